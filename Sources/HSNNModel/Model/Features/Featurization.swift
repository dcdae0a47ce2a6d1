import Foundation
import HSNNEvents
import HSNNMath

extension RetrievalModel {
    /// Fills the batch workspace with a training step: the impressions, then the retrieval
    /// negatives of `sample` (the clicking user with a sampled item, outside the click BCE),
    /// with the softmax groups and their log-Q corrections.
    ///
    /// A negative row reuses its click's user features (lookup slots, dense values, history)
    /// and takes the sampled item by catalog index, so no event is copied or looked up again.
    func featurizeStep(_ examples: some Collection<LabeledExample>, _ sample: RetrievalSample) {
        let n = examples.count, k = sample.perClick
        let ws = batch
        beginBatch(count: n + sample.negativeItems.count)
        for (j, example) in examples.enumerated() {
            featurizeImpression(row: j, example.impression, clicked: example.clicked, createItems: true)
        }
        ws.impressionRows = n
        let logK = logf(Float(max(k, 1)))
        /// Log of the expected count of row `r`'s item among the click's `k` draws.
        func logExpectedCount(_ r: Int) -> Float {
            logK + logf(max(negatives.probability(Int(ws.items[r]), liveItems: catalog.liveCount), 1e-30))
        }
        for (g, p) in sample.positives.enumerated() {
            ws.masked[p] = false
            ws.logQ[p] = logExpectedCount(p)
            ws.retrievalGroups.appendRow(p)
            let history = config.kind == .hsnn ? cross.users[ws.users[p]] : nil
            for s in 0..<k {
                let r = n + g * k + s
                let sampled = sample.negativeItems[g * k + s]
                featurizeNegative(row: r, of: p, history: history, item: sampled >= 0 ? sampled : ws.items[p])
                ws.masked[r] = sampled < 0 || ws.items[r] == ws.items[p]
                ws.logQ[r] = logExpectedCount(r)
                ws.retrievalGroups.appendRow(r)
            }
            ws.retrievalGroups.close()
        }
        endBatch()
    }

    /// Fills the batch workspace with examples `(impression, clicked)`. Unknown items are
    /// created (id-only) when `createItems`, else scored with id-only features and no history.
    func featurize(_ examples: some Sequence<(ImpressionEvent, Bool)>, count: Int, createItems: Bool) {
        beginBatch(count: count)
        var j = 0
        for (imp, clicked) in examples {
            featurizeImpression(row: j, imp, clicked: clicked, createItems: createItems)
            j += 1
        }
        endBatch()
    }

    /// Starts filling the batch workspace with `count` rows (all impressions until a step
    /// says otherwise).
    private func beginBatch(count: Int) {
        let ws = batch
        precondition(count <= ws.capacity, "batch larger than the workspace")
        ws.count = count
        ws.impressionRows = count
        ws.retrievalGroups.removeAll()
        ws.userBatch.reset(fields: layout.userSlots)
        ws.itemBatch.reset(fields: layout.itemSlots)
        ws.crossIn.rows = count
    }

    /// Pools the embeddings of the filled rows (their dense columns were written row by row).
    private func endBatch() {
        let ws = batch
        userTable.forward(ws.userBatch, pooling: .mean, into: ws.userIn)
        itemTable.forward(ws.itemBatch, pooling: .mean, into: ws.itemIn)
        writeItemDense(ws.items.prefix(ws.count), into: ws.itemIn)
    }

    /// Writes row `j` (the next one) from an impression. Scoring (not `createItems`) reads the
    /// counters at ``CrossFeatureStore/readingTime(scoringAt:)``.
    private func featurizeImpression(row j: Int, _ imp: ImpressionEvent, clicked: Bool, createItems: Bool) {
        let ws = batch
        let e = config.embeddingDim, buckets = UInt64(config.hashBuckets)
        let i: Int32 = createItems ? catalog.ensure(imp.itemID, atMs: imp.timestampMs) : (catalog.index(of: imp.itemID) ?? -1)
        ws.items[j] = i
        ws.itemHashes[j] = i >= 0 ? catalog.idHash[Int(i)] : stableHash("item_id", imp.itemID)
        ws.users[j] = stableHash("user_id", imp.userID)
        ws.userRowOf[j] = Int32(j)
        let featureMs = createItems ? imp.timestampMs : cross.readingTime(scoringAt: imp.timestampMs)
        ws.times[j] = featureMs
        ws.labels[j] = clicked ? 1 : 0
        ws.weights[j] = clicked ? Float(config.positiveWeight) : 1
        appendUser(userHash: ws.users[j], features: imp.userFeatures, to: &ws.userBatch, scratch: &ws.userScratch,
                   denseRow: ws.userIn.row(j) + layout.userSlots * e)
        if i >= 0 {
            catalog.append(Int(i), to: &ws.itemBatch, slots: layout.itemSlots, buckets: config.hashBuckets)
        } else {
            ws.itemBatch.append(row: Int32(truncatingIfNeeded: ws.itemHashes[j] % buckets))
            ws.itemBatch.endSlot()
            catalog.appendEmpty(to: &ws.itemBatch, slots: layout.itemSlots - 1)
        }
        if config.kind == .hsnn {
            if i >= 0 {
                cross.write(user: cross.users[ws.users[j]], item: Int(i), catalog: catalog, nowMs: featureMs,
                            into: ws.crossIn.row(j))
            } else {
                ws.crossIn.row(j).update(repeating: 0, count: ws.crossIn.cols)
            }
        }
    }

    /// Writes row `r` (the next one): the user of impression row `p` (whose user row it shares,
    /// with its cross-feature `history`, looked up once per click) with catalog item `i`, as a
    /// retrieval negative (outside the click BCE).
    private func featurizeNegative(row r: Int, of p: Int, history: UserHistory?, item i: Int32) {
        let ws = batch
        ws.items[r] = i
        ws.itemHashes[r] = catalog.idHash[Int(i)]
        ws.users[r] = ws.users[p]
        ws.userRowOf[r] = Int32(p)
        ws.times[r] = ws.times[p]
        ws.labels[r] = 0
        catalog.append(Int(i), to: &ws.itemBatch, slots: layout.itemSlots, buckets: config.hashBuckets)
        if config.kind == .hsnn {
            cross.write(user: history, item: Int(i), catalog: catalog, nowMs: ws.times[p], into: ws.crossIn.row(r))
        }
    }

    /// Appends a user's slots to `batch` and writes the dense values at `denseRow` (`userHash`
    /// nil: the id slot stays empty).
    func appendUser(userHash: UInt64?, features: Features, to batch: inout PooledLookupBatch,
                    scratch: inout [(slot: Int, hash: UInt64)], denseRow: UnsafeMutablePointer<Float>) {
        let buckets = UInt64(config.hashBuckets)
        denseRow.update(repeating: 0, count: config.maxDenseFeatures)
        scratch.removeAll(keepingCapacity: true)
        for (name, value) in features {
            switch value {
            case .string(let s): scratch.append((layout.userSlot(name), stableHash(name, s)))
            case .strings(let list):
                let slot = layout.userSlot(name)
                for s in list { scratch.append((slot, stableHash(name, s))) }
            case .number(let x):
                if let c = layout.userDenseColumn(name) { denseRow[c] = scaledNumber(x) }
            }
        }
        if let userHash { batch.append(row: Int32(truncatingIfNeeded: userHash % buckets)) }
        batch.endSlot()
        for s in 1..<layout.userSlots {
            for v in scratch where v.slot == s { batch.append(row: Int32(truncatingIfNeeded: v.hash % buckets)) }
            batch.endSlot()
        }
    }

    func writeItemDense(_ items: some Collection<Int32>, into m: Matrix) {
        let off = layout.itemSlots * config.embeddingDim, dw = config.maxDenseFeatures
        for (r, i) in items.enumerated() {
            let row = m.row(r) + off
            if i < 0 { row.update(repeating: 0, count: dw); continue }
            catalog.dense.withUnsafeBufferPointer { row.update(from: $0.baseAddress! + Int(i) * dw, count: dw) }
        }
    }
}
