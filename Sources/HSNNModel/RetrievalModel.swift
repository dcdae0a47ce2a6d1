import Foundation
import HSNNEvents
import HSNNMath

/// Training counters of a ``RetrievalModel``.
public struct TrainingCounters: Sendable, Hashable, Codable {
    public var examplesTrained: Int64 = 0
    public var positivesTrained: Int64 = 0
    public var batches: Int64 = 0
    public var itemUpserts: Int64 = 0
    public var itemDeletes: Int64 = 0
    /// Deletes of items the model never saw (ignored).
    public var unknownDeletes: Int64 = 0
    /// Position in the temperature schedule, in trained events (restarts softly on drift).
    public var scheduleEvents: Int64 = 0
    /// Latest event time seen (ms since the epoch); the clock of the cross features at serving.
    public var nowMs: Int64 = 0
    /// Bumped at every weight update (invalidates serving caches).
    public var weightsVersion: Int64 = 0
    /// Mean loss of the last batch (item level BCE) and of the whole objective.
    public var lastItemLoss: Float = 0
    /// Mean retrieval loss of the last batch (item level sampled softmax).
    public var lastRetrievalLoss: Float = 0
    public var lastTotalLoss: Float = 0
    public var lastReconstructionLoss: Float = 0
    public var lastBalance: Float = 0
    public var lastAlpha: Float = 0
    public init() {}
}

/// The model the daemon trains: HSNN (MoNN + jointly learned hierarchical index) or the
/// two-tower baseline, with its feature pipeline, item catalog and online cross features.
///
/// One thread owns it: the daemon calls ``apply(_:)`` for catalog changes and ``train(_:)``
/// for labelled mini-batches in stream order, and ``makeSnapshot()`` between batches for a
/// checkpoint. Same configuration (seed included) and same events give the same model bit
/// for bit on one BLAS thread.
public final class RetrievalModel {
    public let config: ModelConfig
    var layout: FeatureLayout
    let catalog: ItemCatalog
    let cross: CrossFeatureStore
    let userTable: EmbeddingTable
    let itemTable: EmbeddingTable
    /// The item-level MoNN (for two-tower: the two towers).
    let itemModel: MoNN
    /// Index-level MoNNs, coarsest first (empty for two-tower).
    let levelModels: [MoNN]
    let index: LearnedIndex?
    /// Ensemble: level `l`'s logit is `sum_{t <= l} W[l, t] * o_t + b[l]` over MoNN outputs `o_t`.
    let ensembleWeight: DenseParameter
    let ensembleBias: DenseParameter
    /// The same ensemble for the retrieval head.
    let retrievalEnsembleWeight: DenseParameter
    let retrievalEnsembleBias: DenseParameter
    /// Click shares for the log-Q correction of the retrieval objective, and recent clicks for
    /// its popularity-proportional negatives.
    var frequency: FrequencyEstimator
    var memory: NegativeMemory
    var adam: AdamOptimizer
    var rng: SeededRandom
    public internal(set) var counters = TrainingCounters()
    let denseParameters: [DenseParameter]
    /// Per-parameter learning-rate multipliers (node embeddings learn slower than weights).
    let learningRateScales: [Float]

    let userWidth: Int
    let itemWidth: Int
    let levelItemWidth: Int
    lazy var batch = BatchWorkspace(model: self, capacity: config.batchSize * (1 + config.retrievalNegatives))
    lazy var serving = ServingWorkspace(model: self, capacity: 2048)
    var servingCache = ServingCache()
    /// Replaces the auxiliary MSE target (the item-level interaction output, a constant for the
    /// gradient) in finite-difference checks.
    var frozenAuxiliaryTarget: Matrix?

    /// A fresh model with weights drawn from `config.seed`.
    /// - Throws: ``ModelConfigError`` when the configuration is invalid.
    public init(config: ModelConfig) throws(ModelConfigError) {
        try config.validate()
        self.config = config
        layout = FeatureLayout(config: config)
        catalog = ItemCatalog(valuesPerItem: config.maxItemValues, denseWidth: config.maxDenseFeatures)
        cross = CrossFeatureStore(itemSlots: 1 + config.maxItemFields, config: config)
        var rng = SeededRandom(seed: config.seed)
        let e = config.embeddingDim
        userTable = EmbeddingTable(name: "embedding.user", rows: config.hashBuckets, dim: e, initStd: 0.05, rng: &rng)
        itemTable = EmbeddingTable(name: "embedding.item", rows: config.hashBuckets, dim: e, initStd: 0.05, rng: &rng)
        userWidth = (1 + config.maxUserFields) * e + config.maxDenseFeatures
        itemWidth = (1 + config.maxItemFields) * e + config.maxDenseFeatures
        levelItemWidth = config.indexDim + itemWidth
        let crossWidth = CrossFeatureStore.width(itemSlots: 1 + config.maxItemFields)
        switch config.kind {
        case .twoTower:
            let size = MoNNSize(userRows: 1, itemRows: 1, towerHidden: config.itemLevel.towerHidden, interactionHidden: [], overHidden: [])
            itemModel = MoNN(name: "two_tower", userInputs: userWidth, itemInputs: itemWidth, interactionInputs: nil, size: size,
                             dim: config.dim, withOverArch: false, layerNorm: config.layerNorm, rng: &rng)
            levelModels = []
            index = nil
        case .hsnn:
            itemModel = MoNN(name: "level\(config.levels - 1)", userInputs: userWidth, itemInputs: itemWidth,
                             interactionInputs: crossWidth, size: config.itemLevel, dim: config.dim, withOverArch: true,
                             layerNorm: config.layerNorm, rng: &rng)
            var levels: [MoNN] = []
            for l in 0..<(config.levels - 1) {
                levels.append(MoNN(name: "level\(l)", userInputs: userWidth, itemInputs: config.indexDim + itemWidth,
                                   interactionInputs: userWidth + config.indexDim + itemWidth + (config.nodeCrossFeatures ? crossWidth : 0),
                                   size: config.indexLevel,
                                   dim: config.dim, withOverArch: true, layerNorm: config.layerNorm, rng: &rng))
            }
            levelModels = levels
            index = LearnedIndex(levels: config.levels - 1, sizes: config.nodes, dim: config.indexDim,
                                 itemOutputs: config.itemLevel.itemRows * config.dim, window: config.balanceWindow,
                                 itemSlots: 1 + config.maxItemFields, attributeWeight: Float(config.attributeWeight),
                                 popularityDecayRate: log(2) / config.crossHalfLifeMs, rng: &rng)
        }
        let levelCount = levelModels.count + 1
        ensembleWeight = DenseParameter(name: "ensemble.weight", rows: levelCount, cols: levelCount)
        ensembleBias = DenseParameter(name: "ensemble.bias", rows: 1, cols: levelCount)
        retrievalEnsembleWeight = DenseParameter(name: "ensemble.retrieval.weight", rows: levelCount, cols: levelCount)
        retrievalEnsembleBias = DenseParameter(name: "ensemble.retrieval.bias", rows: 1, cols: levelCount)
        for l in 0..<levelCount { ensembleWeight.value[l, l] = 1; retrievalEnsembleWeight.value[l, l] = 1 }
        var dense = itemModel.parameters
        for m in levelModels { dense += m.parameters }
        if let index { dense += index.parameters }
        if config.kind == .hsnn { dense += [ensembleWeight, ensembleBias, retrievalEnsembleWeight, retrievalEnsembleBias] }
        denseParameters = dense
        let books = Set((index?.codebooks ?? []).map { ObjectIdentifier($0) })
        learningRateScales = dense.map { books.contains(ObjectIdentifier($0)) ? Float(config.codebookLearningRateScale) : 1 }
        adam = AdamOptimizer(learningRate: Float(config.learningRate), clip: Float(config.gradientClip))
        frequency = FrequencyEstimator(alpha: Float(config.frequencyAlpha))
        memory = NegativeMemory(capacity: config.negativeMemory)
        self.rng = rng
    }

    /// Inputs of an index level's interaction tower: `[user, node item input, (user, representative) cross features]`.
    var levelInteractionWidth: Int { userWidth + levelItemWidth + (config.nodeCrossFeatures ? cross.width : 0) }

    /// Levels scored per pair (index levels + the item level).
    var levelCount: Int { levelModels.count + 1 }

    // MARK: - Catalog

    /// Applies an item catalog change: an upsert stores the features and indexes the item at
    /// once (item tower, then the hard argmin path); a delete removes it from the index so it is
    /// never retrieved again (until a new upsert).
    public func apply(_ event: ItemEvent) {
        counters.nowMs = max(counters.nowMs, event.timestampMs)
        switch event.op {
        case .upsert:
            counters.itemUpserts += 1
            let i = catalog.ensure(event.itemID, atMs: event.timestampMs)
            catalog.setFeatures(i, event.features, layout: &layout, atMs: event.timestampMs)
            index?.ensureCapacity(items: catalog.count)
            refreshItems([i], assign: true)
        case .delete:
            guard let i = catalog.index(of: event.itemID) else { counters.unknownDeletes += 1; return }
            counters.itemDeletes += 1
            catalog.delete(i)
            index?.remove(item: Int(i))
        }
    }

    /// Recomputes the item tower outputs of `items` (serving cache) and, when `assign`, maps
    /// them onto the index with the current weights.
    func refreshItems(_ items: [Int32], assign: Bool) {
        let ws = serving
        let outWidth = itemModel.itemRows * config.dim
        servingCache.ensure(items: catalog.count, width: outWidth)
        var start = 0
        while start < items.count {
            let chunk = items[start..<min(start + ws.capacity, items.count)]
            ws.itemBatch.reset(fields: layout.itemSlots)
            for i in chunk { catalog.append(Int(i), to: &ws.itemBatch, slots: layout.itemSlots, buckets: config.hashBuckets) }
            itemTable.forward(ws.itemBatch, pooling: .mean, into: ws.itemIn)
            writeItemDense(chunk, into: ws.itemIn)
            let out = itemModel.itemTower.forward(ws.itemIn, ws.itemWS.item)
            for (r, i) in chunk.enumerated() { servingCache.storeItem(Int(i), out.row(r), version: catalog.version[Int(i)], weights: counters.weightsVersion) }
            if assign, let index, let iws = ws.indexWS {
                index.writeSignatures(chunk, catalog: catalog, nowMs: counters.nowMs, into: iws)
                index.forward(items: out, alpha: 1, hard: true, reuseCodebook: true, iws)
                for (r, i) in chunk.enumerated() where catalog.live[Int(i)] {
                    index.assign(item: Int(i), path: iws.hard + r * index.levels, vector: iws.v.row(r))
                }
            }
            start += ws.capacity
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

    /// Seeds the level-1 codebook with the vectors of live items spread evenly over the catalog
    /// (the node embeddings are then learned jointly with the model), centers the item vectors,
    /// and maps every item. Runs before the first batch; waits until there are enough items.
    func seedCodebook() {
        guard let index, let iws = serving.indexWS else { return }
        var live: [Int32] = []
        for i in 0..<catalog.count where catalog.live[i] { live.append(Int32(i)) }
        let k = index.sizes[0]
        guard live.count >= k else { return }
        index.ensureCapacity(items: catalog.count)
        let ws = serving
        /// Item tower outputs of a chunk of items.
        func towerOutputs(_ chunk: ArraySlice<Int32>) -> Matrix {
            ws.itemBatch.reset(fields: layout.itemSlots)
            for i in chunk { catalog.append(Int(i), to: &ws.itemBatch, slots: layout.itemSlots, buckets: config.hashBuckets) }
            itemTable.forward(ws.itemBatch, pooling: .mean, into: ws.itemIn)
            writeItemDense(chunk, into: ws.itemIn)
            return itemModel.itemTower.forward(ws.itemIn, ws.itemWS.item)
        }
        // Center on the mean projected vector of the catalog.
        var mean = [Float](repeating: 0, count: index.dim)
        var start = 0
        while start < live.count {
            let chunk = live[start..<min(start + ws.capacity, live.count)]
            index.projection.forward(towerOutputs(chunk), into: iws.vRaw)
            for r in 0..<chunk.count { for j in 0..<index.dim { mean[j] += iws.vRaw[r, j] } }
            start += ws.capacity
        }
        for j in 0..<index.dim { mean[j] /= Float(live.count) }
        index.center = mean
        // Seeds: the item vectors (with their attribute signatures) of evenly spread items.
        let seeds = (0..<k).map { live[($0 * live.count) / k] }
        let book = index.codebooks[0].value
        start = 0
        while start < k {
            let chunk = seeds[start..<min(start + ws.capacity, k)]
            index.writeSignatures(chunk, catalog: catalog, nowMs: counters.nowMs, into: iws)
            index.forward(items: towerOutputs(chunk), alpha: 1, hard: true, iws)
            for r in 0..<chunk.count { book.row(start + r).update(from: iws.v.row(r), count: index.dim) }
            start += ws.capacity
        }
        index.codebookSeeded = true
        index.codebookVersion += 1
        remapAll()
    }

    /// Moves every empty level-1 node onto an item of the most crowded leaves (the usual remedy
    /// for dead codes in learned quantisers), resetting its optimizer moments. Returns the count.
    @discardableResult
    func reseedEmptyNodes() -> Int {
        guard let index else { return 0 }
        let k = index.sizes[0]
        var size = [Int](repeating: 0, count: k)
        for i in 0..<index.memberPosition.count where index.memberPosition[i] >= 0 { size[Int(index.path[i * index.levels])] += 1 }
        let empty = (0..<k).filter { size[$0] == 0 }
        guard !empty.isEmpty else { return 0 }
        // Donor items: members of the largest level-1 nodes, taken round-robin, deterministic.
        let order = (0..<k).sorted { size[$0] > size[$1] || (size[$0] == size[$1] && $0 < $1) }
        var donors: [Int] = []
        var byNode = [[Int]](repeating: [], count: k)
        for i in 0..<index.memberPosition.count where index.memberPosition[i] >= 0 { byNode[Int(index.path[i * index.levels])].append(i) }
        var round = 1
        while donors.count < empty.count && round < 64 {
            for n in order where size[n] > round && donors.count < empty.count {
                let list = byNode[n]
                donors.append(list[(round * 7919) % list.count])
            }
            round += 1
        }
        let book = index.codebooks[0]
        index.codebookVersion += 1
        for (n, donor) in zip(empty, donors) {
            let v = index.itemVectors.withUnsafeBufferPointer { $0.baseAddress! + donor * index.dim }
            for j in 0..<index.dim {
                // A small deterministic offset so the new node does not tie with the donor's node.
                book.value[n, j] = v[j] + 0.01 * Float((j &* 31 &+ n) % 7 - 3)
                book.m[n, j] = 0
                book.v[n, j] = 0
            }
        }
        index.reseeded += Int64(min(empty.count, donors.count))
        return min(empty.count, donors.count)
    }

    /// Re-maps every live item with the current weights (the periodic full pass), recomputes
    /// the representatives, and restarts the temperature schedule softly when many items moved
    /// (when configured). Returns the number of items that changed leaf.
    @discardableResult
    public func remapAll() -> Int64 {
        guard let index else { return 0 }
        if index.attributeWeight > 0, let weights = estimateSlotWeights() { index.slotWeights = weights }
        let before = index.movesTotal
        var live: [Int32] = []
        live.reserveCapacity(catalog.liveCount)
        for i in 0..<catalog.count where catalog.live[i] { live.append(Int32(i)) }
        index.ensureCapacity(items: catalog.count)
        refreshItems(live, assign: true)
        if reseedEmptyNodes() > 0 { refreshItems(live, assign: true) }
        index.recomputeRepresentatives()
        recomputeNodeProfiles()
        let moves = index.movesTotal - before
        index.movesLastRemap = moves
        index.remaps += 1
        if config.restartMoveShare > 0, !live.isEmpty, Double(moves) / Double(live.count) > config.restartMoveShare {
            let restart = Int64(config.restartFraction * Double(config.scheduleEvents))
            counters.scheduleEvents = min(counters.scheduleEvents, restart)
        }
        return moves
    }

    /// How strongly the item level's interaction tower responds to each item feature slot's
    /// cross features (and, last, to the item popularity features) on the last trained batch: per slot, the root of the summed squared
    /// first-layer weight norms times the inputs' mean squared magnitudes, scaled to a maximum
    /// of 1. Slot 0 (the item id) gets 0. Nil before the first batch.
    func estimateSlotWeights() -> [Float]? {
        guard let first = itemModel.interaction?.layers.first, batch.count > 0 else { return nil }
        let x = batch.crossIn, n = batch.count, w = first.weight.value
        func weight(_ columns: Range<Int>) -> Float {
            var acc: Float = 0
            for c in columns {
                var m: Float = 0
                for r in 0..<n { let v = x[r, c]; m += v * v }
                acc += m / Float(n) * dot(w.row(c), w.row(c), w.cols)
            }
            return acc.squareRoot()
        }
        // Feature slots 1..., then the item popularity columns (after the user totals).
        var out = [Float](repeating: 0, count: cross.itemSlots + 1)
        for s in 1..<cross.itemSlots { out[s] = weight((s * 5)..<(s * 5 + 5)) }
        if config.signaturePopularity { out[cross.itemSlots] = weight((cross.itemSlots * 5 + 3)..<cross.width) }
        guard let top = out.max(), top > 0, top.isFinite else { return nil }
        return out.map { $0 / top }
    }

    // MARK: - Training

    /// Trains on labelled examples in order, in mini-batches of `config.batchSize`, then
    /// updates the cross features and the index mapping of the items in each batch.
    ///
    /// Each step minimises the click BCE on the impressions plus the retrieval objective: for
    /// every click, a sampled softmax over the clicked item and `training.retrieval_negatives`
    /// sampled items with the log-Q correction (see docs/model.md).
    public func train(_ examples: [LabeledExample]) {
        var start = 0
        while start < examples.count {
            let end = min(start + config.batchSize, examples.count)
            trainStep(examples[start..<end])
            start = end
        }
    }

    /// Updates the online state (cross-feature counters, item popularity, clock) from examples
    /// without training the weights.
    public func recordOutcomes(_ examples: [LabeledExample]) {
        for ex in examples {
            let imp = ex.impression
            let i = catalog.ensure(imp.itemID, atMs: imp.timestampMs)
            cross.record(user: stableHash("user_id", imp.userID), item: Int(i), clicked: ex.clicked, catalog: catalog, nowMs: imp.timestampMs)
            counters.nowMs = max(counters.nowMs, imp.timestampMs)
        }
    }

    /// Current temperature `alpha = max(min, max_alpha * (t / T)^exp)`.
    var alpha: Float {
        let x = min(Double(counters.scheduleEvents) / Double(config.scheduleEvents), 1)
        return Float(max(config.minAlpha, config.maxAlpha * pow(x, config.alphaExponent)))
    }

    /// Current index-loss weight (linear warm-up over `warmupFraction * T`).
    var indexLossWeight: Float {
        let warm = config.warmupFraction * Double(config.scheduleEvents)
        let x = warm <= 0 ? 1 : min(Double(counters.scheduleEvents) / warm, 1)
        return Float(config.indexLossWeight * x)
    }

    func trainStep(_ examples: ArraySlice<LabeledExample>) {
        guard !examples.isEmpty else { return }
        if let index, !index.codebookSeeded { seedCodebook() }
        refreshRepresentativesIfDirty()
        let sample = sampleRetrievalNegatives(examples)
        featurizeStep(examples, sample)
        let losses = forwardBackward(withGradients: true, hard: false)
        adam.update(denseParameters, scales: learningRateScales)
        index?.codebookVersion += 1
        let lr = Float(config.embeddingLearningRate)
        userTable.adagradUpdate(learningRate: lr)
        itemTable.adagradUpdate(learningRate: lr)
        counters.weightsVersion += 1
        counters.lastItemLoss = losses.item
        counters.lastRetrievalLoss = losses.retrieval
        counters.lastTotalLoss = losses.total
        counters.lastReconstructionLoss = losses.reconstruction
        counters.lastBalance = losses.balance
        counters.lastAlpha = alpha
        // Online state after the examples were trained on: cross features, item mapping.
        let ws = batch
        for j in 0..<ws.impressionRows {
            let i = Int(ws.items[j])
            cross.record(user: ws.users[j], item: i, clicked: ws.labels[j] > 0, catalog: catalog, nowMs: ws.times[j])
            catalog.lastSeenMs[i] = max(catalog.lastSeenMs[i], ws.times[j])
            counters.nowMs = max(counters.nowMs, ws.times[j])
            if ws.labels[j] > 0 { counters.positivesTrained += 1 }
            counters.examplesTrained += 1
        }
        if let index, let iws = ws.indexWS {
            index.ensureCapacity(items: catalog.count)
            for j in 0..<ws.count where catalog.live[Int(ws.items[j])] {
                index.assign(item: Int(ws.items[j]), path: iws.hard + j * index.levels, vector: iws.v.row(j))
            }
            index.updateCenter(iws.vRaw, rows: ws.impressionRows)
            let sums = index.balance(iws, rows: ws.count).sums
            for t in 0..<index.levels { index.pushWindow(level: t, sums: sums[t], count: ws.count) }
        }
        recordClicksForNegatives((0..<ws.impressionRows).lazy.filter { ws.labels[$0] > 0 }.map { ws.items[$0] })
        counters.scheduleEvents += Int64(ws.impressionRows)
        counters.batches += 1
        if index != nil, config.remapEveryBatches > 0, counters.batches % Int64(config.remapEveryBatches) == 0 {
            remapAll()
        }
    }

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
        func logExpectedCount(_ r: Int) -> Float { logK + logf(max(negativeProbability(Int(ws.items[r])), 1e-30)) }
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

    /// Writes row `j` (the next one) from an impression.
    private func featurizeImpression(row j: Int, _ imp: ImpressionEvent, clicked: Bool, createItems: Bool) {
        let ws = batch
        let e = config.embeddingDim, buckets = UInt64(config.hashBuckets)
        let i: Int32 = createItems ? catalog.ensure(imp.itemID, atMs: imp.timestampMs) : (catalog.index(of: imp.itemID) ?? -1)
        ws.items[j] = i
        ws.itemHashes[j] = i >= 0 ? catalog.idHash[Int(i)] : stableHash("item_id", imp.itemID)
        ws.users[j] = stableHash("user_id", imp.userID)
        ws.userRowOf[j] = Int32(j)
        ws.times[j] = imp.timestampMs
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
                cross.write(user: cross.users[ws.users[j]], item: Int(i), catalog: catalog, nowMs: imp.timestampMs,
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

    /// Appends a user's slots to `batch` and writes the dense values at `denseRow`.
    func appendUser(userHash: UInt64, features: Features, to batch: inout PooledLookupBatch,
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
        batch.append(row: Int32(truncatingIfNeeded: userHash % buckets))
        batch.endSlot()
        for s in 1..<layout.userSlots {
            for v in scratch where v.slot == s { batch.append(row: Int32(truncatingIfNeeded: v.hash % buckets)) }
            batch.endSlot()
        }
    }

    struct Losses {
        var total: Float = 0
        var item: Float = 0
        var index: Float = 0
        /// Item-level retrieval loss (sampled softmax) and the index levels' sum.
        var retrieval: Float = 0
        var indexRetrieval: Float = 0
        var auxiliary: Float = 0
        var reconstruction: Float = 0
        var balance: Float = 0
    }

    /// Forward pass over the featurised batch (soft assignments, or the serving path when
    /// `hard`); fills `batch.logits` per level. Returns nothing; see ``forwardBackward``.
    func forward(hard: Bool) {
        let ws = batch, n = ws.count
        let L = levelCount
        ws.levelOutput.rows = L
        ws.logits.rows = L
        ws.retrievalOutput.rows = L
        ws.retrievalLogits.rows = L
        if config.kind == .twoTower {
            let z = itemModel.forward(userIn: ws.userIn, itemIn: ws.itemIn, interactionIn: nil, userRowOf: ws.userRowOf, ws.itemWS)
            for j in 0..<n {
                ws.levelOutput[0, j] = z[j, 0]; ws.logits[0, j] = z[j, 0]
                ws.retrievalOutput[0, j] = z[j, 1]; ws.retrievalLogits[0, j] = z[j, 1]
            }
            return
        }
        let itemLogits = itemModel.forward(userIn: ws.userIn, itemIn: ws.itemIn, interactionIn: ws.crossIn, userRowOf: ws.userRowOf, ws.itemWS)
        for j in 0..<n { ws.levelOutput[L - 1, j] = itemLogits[j, 0]; ws.retrievalOutput[L - 1, j] = itemLogits[j, 1] }
        guard let index, let iws = ws.indexWS else { return }
        index.writeSignatures(ws.items.prefix(n), catalog: catalog, nowMs: counters.nowMs, into: iws)
        index.forward(items: ws.itemWS.item.output, alpha: alpha, hard: hard, iws)
        let e = config.embeddingDim, dv = config.indexDim
        for l in 0..<levelModels.count {
            // Level item input: [path embedding e_l, representative item's features].
            let lin = ws.levelItemIn[l]
            ws.repBatch[l].reset(fields: layout.itemSlots)
            var reps = [Int32](repeating: -1, count: n)
            var nodes = [Int](repeating: 0, count: n)
            for j in 0..<n {
                let path = iws.hard + j * index.levels
                var node = 0
                for s in 0...l { node = node * index.sizes[s] + Int(path[s]) }
                nodes[j] = node
                let rep = index.representatives[l][node]
                reps[j] = rep
                if rep >= 0 {
                    catalog.append(Int(rep), to: &ws.repBatch[l], slots: layout.itemSlots, buckets: config.hashBuckets)
                } else {
                    catalog.appendEmpty(to: &ws.repBatch[l], slots: layout.itemSlots)
                }
            }
            itemTable.forward(ws.repBatch[l], pooling: .mean, into: lin, columnOffset: dv)
            let pe = iws.pathEmbedding[l]
            for j in 0..<n { lin.row(j).update(from: pe.row(j), count: dv) }
            let off = dv + layout.itemSlots * e, dw = config.maxDenseFeatures
            for j in 0..<n {
                let row = lin.row(j) + off
                if reps[j] < 0 { row.update(repeating: 0, count: dw) } else {
                    catalog.dense.withUnsafeBufferPointer { row.update(from: $0.baseAddress! + Int(reps[j]) * dw, count: dw) }
                }
            }
            let inter = ws.levelInteractionIn[l]
            inter.rows = n
            for j in 0..<n {
                inter.row(j).update(from: ws.userIn.row(Int(ws.userRowOf[j])), count: userWidth)
                (inter.row(j) + userWidth).update(from: lin.row(j), count: levelItemWidth)
                if config.nodeCrossFeatures {
                    writeNodeCross(user: cross.users[ws.users[j]], profiles: index.profiles, level: l, node: nodes[j], nowMs: ws.times[j],
                                   into: inter.row(j) + userWidth + levelItemWidth)
                }
            }
            let o = levelModels[l].forward(userIn: ws.userIn, itemIn: lin, interactionIn: inter, userRowOf: ws.userRowOf, ws.levelWS[l])
            for j in 0..<n { ws.levelOutput[l, j] = o[j, 0]; ws.retrievalOutput[l, j] = o[j, 1] }
        }
        // Ensemble logits of both heads.
        for (w, b, out, z) in [(ensembleWeight, ensembleBias, ws.levelOutput, ws.logits),
                               (retrievalEnsembleWeight, retrievalEnsembleBias, ws.retrievalOutput, ws.retrievalLogits)] {
            for l in 0..<L {
                let bl = b.value.base[l]
                for j in 0..<n {
                    var v = bl
                    for t in 0...l { v += w.value[l, t] * out[t, j] }
                    z[l, j] = v
                }
            }
        }
    }

    /// Forward pass plus the full objective; with `withGradients`, back-propagates it into every
    /// parameter's gradient (no update). Returns the loss terms.
    @discardableResult
    func forwardBackward(withGradients: Bool, hard: Bool) -> Losses {
        forward(hard: hard)
        let ws = batch, n = ws.count, L = levelCount
        var losses = Losses()
        ws.dLogits.rows = L
        ws.dRetrievalLogits.rows = L
        let wIdx = indexLossWeight
        let nImp = ws.impressionRows
        ws.dLogits.zero()
        ws.labels.withUnsafeBufferPointer { y in
            ws.weights.withUnsafeBufferPointer { w in
                for l in 0..<L {
                    let weight: Float = l == L - 1 ? 1 : wIdx
                    let value = Loss.bceWithLogits(logits: ws.logits.row(l), labels: y.baseAddress!, weights: w.baseAddress!, count: nImp,
                                                   grad: ws.dLogits.row(l), scale: weight)
                    if l == L - 1 { losses.item = value } else { losses.index += value }
                    losses.total += weight * value
                }
            }
        }
        // Retrieval objective: sampled softmax with the log-Q correction, per level.
        let wRetrieval = Float(config.retrievalWeight)
        ws.logQ.withUnsafeBufferPointer { q in
            ws.masked.withUnsafeBufferPointer { m in
                for l in 0..<L {
                    let weight: Float = l == L - 1 ? wRetrieval : (config.retrievalIndexLevels ? wRetrieval * wIdx : 0)
                    guard weight > 0, !ws.retrievalGroups.isEmpty else {
                        ws.dRetrievalLogits.row(l).update(repeating: 0, count: n)
                        continue
                    }
                    let value = Loss.sampledSoftmax(logits: ws.retrievalLogits.row(l), logQ: q.baseAddress!, masked: m.baseAddress!,
                                                    groups: ws.retrievalGroups, rowCount: n, grad: ws.dRetrievalLogits.row(l), scale: weight)
                    if l == L - 1 { losses.retrieval = value } else { losses.indexRetrieval += value }
                    losses.total += weight * value
                }
            }
        }
        guard config.kind == .hsnn, let index, let iws = ws.indexWS else {
            if withGradients {
                ws.itemWS.dLogits.rows = n
                for j in 0..<n { ws.itemWS.dLogits[j, 0] = ws.dLogits[0, j]; ws.itemWS.dLogits[j, 1] = ws.dRetrievalLogits[0, j] }
                ws.dUserIn.rows = ws.userIn.rows
                itemModel.backward(userIn: ws.userIn, itemIn: ws.itemIn, interactionIn: nil, userRowOf: ws.userRowOf, ws.itemWS,
                                   dUserIn: ws.dUserIn, dItemIn: ws.dItemIn, dInteractionIn: nil)
                userTable.backward(ws.userBatch, pooling: .mean, outputGrad: ws.dUserIn)
                itemTable.backward(ws.itemBatch, pooling: .mean, outputGrad: ws.dItemIn)
            }
            return losses
        }
        // Auxiliary MSE of each index level's interaction tower to the item level's (a constant target).
        let d = config.dim
        let target = frozenAuxiliaryTarget ?? ws.itemWS.interaction!.output
        let wAux = Float(config.auxiliaryWeight)
        for l in 0..<levelModels.count {
            let x = ws.levelWS[l].interaction!.output
            ws.auxGrad[l].rows = n
            let v = Loss.mse(x.base, target.base, rows: n, width: d, grad: ws.auxGrad[l].base, scale: wAux)
            losses.auxiliary += v
            losses.total += wAux * v
        }
        if !withGradients {
            let b = index.balance(iws, rows: n).value
            var rec: Float = 0
            let last = iws.pathEmbedding[index.levels - 1]
            for i in 0..<(n * config.indexDim) { let x = last.base[i] - iws.v.base[i]; rec += x * x }
            losses.reconstruction = rec / Float(n)
            losses.balance = b
            losses.total += Float(config.reconstructionWeight) * losses.reconstruction + Float(config.balanceWeight) * b
            return losses
        }
        // Ensemble backward: dO_t = sum_{l >= t} W[l, t] dz_l.
        ws.dOutput.rows = L
        ws.dRetrievalOutput.rows = L
        for (w, b, out, dz, dOut) in [(ensembleWeight, ensembleBias, ws.levelOutput, ws.dLogits, ws.dOutput),
                                      (retrievalEnsembleWeight, retrievalEnsembleBias, ws.retrievalOutput, ws.dRetrievalLogits,
                                       ws.dRetrievalOutput)] {
            for t in 0..<L {
                for j in 0..<n {
                    var g: Float = 0
                    for l in t..<L { g += w.value[l, t] * dz[l, j] }
                    dOut[t, j] = g
                }
            }
            for l in 0..<L {
                var db: Float = 0
                for j in 0..<n { db += dz[l, j] }
                b.grad.base[l] += db
                for t in 0...l {
                    var s: Float = 0
                    for j in 0..<n { s += dz[l, j] * out[t, j] }
                    w.grad[l, t] += s
                }
            }
        }
        // Index levels.
        let nu = ws.userIn.rows
        ws.dUserIn.rows = nu
        ws.dUserIn.zero()
        let dv = config.indexDim
        for l in 0..<levelModels.count {
            let lws = ws.levelWS[l]
            lws.dLogits.rows = n
            for j in 0..<n { lws.dLogits[j, 0] = ws.dOutput[l, j]; lws.dLogits[j, 1] = ws.dRetrievalOutput[l, j] }
            levelModels[l].backward(userIn: ws.userIn, itemIn: ws.levelItemIn[l], interactionIn: ws.levelInteractionIn[l],
                                    userRowOf: ws.userRowOf, lws,
                                    extraInteractionGrad: ws.auxGrad[l], dUserIn: ws.dUserTmp, dItemIn: ws.dLevelItemIn[l],
                                    dInteractionIn: ws.dLevelInteractionIn[l])
            let dInter = ws.dLevelInteractionIn[l], dItem = ws.dLevelItemIn[l]
            let pg = iws.pathGrad[l]
            pg.rows = n
            for j in 0..<nu { axpy(1, ws.dUserTmp.row(j), ws.dUserIn.row(j), userWidth) }
            for j in 0..<n {
                axpy(1, dInter.row(j), ws.dUserIn.row(Int(ws.userRowOf[j])), userWidth)
                axpy(1, dInter.row(j) + userWidth, dItem.row(j), levelItemWidth)
                pg.row(j).update(from: dItem.row(j), count: dv)
            }
            itemTable.backward(ws.repBatch[l], pooling: .mean, outputGrad: dItem, columnOffset: dv)
        }
        let idx = index.backward(items: ws.itemWS.item.output, alpha: alpha, reconstructionWeight: Float(config.reconstructionWeight),
                                 balanceWeight: Float(config.balanceWeight), iws)
        losses.reconstruction = idx.reconstruction
        losses.balance = idx.balance
        losses.total += Float(config.reconstructionWeight) * idx.reconstruction + Float(config.balanceWeight) * idx.balance
        // Item level, with the index's gradient on the item tower output.
        let iwsItem = ws.itemWS
        iwsItem.dLogits.rows = n
        for j in 0..<n { iwsItem.dLogits[j, 0] = ws.dOutput[L - 1, j]; iwsItem.dLogits[j, 1] = ws.dRetrievalOutput[L - 1, j] }
        itemModel.backward(userIn: ws.userIn, itemIn: ws.itemIn, interactionIn: ws.crossIn, userRowOf: ws.userRowOf, iwsItem,
                           extraItemGrad: iws.dItem, dUserIn: ws.dUserTmp, dItemIn: ws.dItemIn, dInteractionIn: nil)
        for j in 0..<nu { axpy(1, ws.dUserTmp.row(j), ws.dUserIn.row(j), userWidth) }
        userTable.backward(ws.userBatch, pooling: .mean, outputGrad: ws.dUserIn)
        itemTable.backward(ws.itemBatch, pooling: .mean, outputGrad: ws.dItemIn)
        return losses
    }
}
