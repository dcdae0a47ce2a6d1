import HSNNMath

/// Cached tower outputs for serving, invalidated by version counters.
struct ServingCache {
    var width = 0
    var itemOut: [Float] = []
    var itemVersion: [UInt32] = []
    var itemWeights: [Int64] = []
    var nodeWeights: Int64 = -1
    var nodeIndexVersion: Int64 = -1
    var nodeOut: [Matrix] = []
    var nodeItemIn: [Matrix] = []
    var nodeHasItems: [[Bool]] = []
    /// Node attribute profiles at `nodeIndexVersion`.
    var profiles: [NodeProfiles] = []
    /// (weights version, catalog mutations) at the last full staleness scan.
    var itemsCheckedAt: (Int64, Int64) = (-1, -1)
    /// What the head items were computed from.
    struct HeadKey: Equatable {
        var weights: Int64
        var catalog: Int64
        var index: Int64
        var nowMs: Int64
    }
    /// The model's head, best first (``RetrievalModel/servingHead()``), at `headKey`.
    var head: [Int32] = []
    var headKey: HeadKey?

    mutating func ensure(items: Int, width w: Int) {
        width = w
        if itemVersion.count < items {
            let extra = items - itemVersion.count
            itemOut.append(contentsOf: repeatElement(0, count: extra * w))
            itemVersion.append(contentsOf: repeatElement(0, count: extra))
            itemWeights.append(contentsOf: repeatElement(-1, count: extra))
        }
    }

    mutating func storeItem(_ i: Int, _ out: UnsafePointer<Float>, version: UInt32, weights: Int64) {
        let w = width
        itemOut.withUnsafeMutableBufferPointer { ($0.baseAddress! + i * w).update(from: out, count: w) }
        itemVersion[i] = version
        itemWeights[i] = weights
    }
}

extension RetrievalModel {
    /// Brings serving caches up to date with the current weights, catalog and index, the
    /// model's head included (one exhaustive ranking when it is stale; see `servingHead()`).
    public func prepareForServing() {
        refreshServingCaches()
        if config.kind == .hsnn, index != nil { _ = servingHead() }
    }

    private func refreshServingCaches() {
        refreshRepresentativesIfDirty()
        let w = itemModel.itemRows * config.dim
        servingCache.ensure(items: catalog.count, width: w)
        if servingCache.itemsCheckedAt != (counters.weightsVersion, catalog.mutations) {
            var stale: [Int32] = []
            for i in 0..<catalog.count where catalog.live[i] {
                if servingCache.itemWeights[i] != counters.weightsVersion || servingCache.itemVersion[i] != catalog.version[i] {
                    stale.append(Int32(i))
                }
            }
            if !stale.isEmpty { refreshItems(stale, assign: false) }
            servingCache.itemsCheckedAt = (counters.weightsVersion, catalog.mutations)
        }
        guard let index else { return }
        if servingCache.nodeWeights == counters.weightsVersion && servingCache.nodeIndexVersion == index.version { return }
        // Serving profiles follow every mapping change (new items count at once); the
        // training-time profiles are only rebuilt with the representatives.
        if config.nodeCrossFeatures && servingCache.nodeIndexVersion != index.version {
            servingCache.profiles = computeNodeProfiles()
        }
        let ws = serving
        let first = Matrix(rows: index.sizes[0], cols: config.indexDim), norms = Matrix(rows: index.sizes[0], cols: 1)
        index.normalizedFirstCodebook(into: first, norms: norms)
        var has: [[Bool]] = []
        for t in 0..<index.levels { has.append([Bool](repeating: false, count: index.nodeCount(level: t))) }
        for i in 0..<index.memberPosition.count where index.memberPosition[i] >= 0 {
            for t in 0..<index.levels { has[t][index.node(item: i, level: t)] = true }
        }
        servingCache.nodeHasItems = has
        servingCache.nodeOut = []
        servingCache.nodeItemIn = []
        let e = config.embeddingDim, dv = config.indexDim, dw = config.maxDenseFeatures
        for l in 0..<index.levels {
            let count = index.nodeCount(level: l)
            let input = Matrix(rows: count, cols: levelItemWidth)
            let out = Matrix(rows: count, cols: levelModels[l].itemRows * config.dim)
            var start = 0
            while start < count {
                let end = min(start + ws.capacity, count)
                ws.itemBatch.reset(fields: layout.itemSlots)
                for n in start..<end {
                    let rep = index.representatives[l][n]
                    if rep >= 0 { catalog.append(Int(rep), to: &ws.itemBatch, slots: layout.itemSlots, buckets: config.hashBuckets) }
                    else { catalog.appendEmpty(to: &ws.itemBatch, slots: layout.itemSlots) }
                }
                let chunk = Matrix(rows: end - start, cols: levelItemWidth)
                itemTable.forward(ws.itemBatch, pooling: .mean, into: chunk, columnOffset: dv)
                for n in start..<end {
                    let row = chunk.row(n - start)
                    index.nodeEmbedding(level: l, node: n, firstNormalized: first, into: row)
                    let rep = index.representatives[l][n]
                    let dense = row + dv + layout.itemSlots * e
                    if rep >= 0 { catalog.dense.withUnsafeBufferPointer { dense.update(from: $0.baseAddress! + Int(rep) * dw, count: dw) } }
                    else { dense.update(repeating: 0, count: dw) }
                    input.row(n).update(from: row, count: levelItemWidth)
                }
                let o = levelModels[l].itemTower.forward(chunk, ws.levelWS[l].item)
                (out.base + start * out.cols).update(from: o.base, count: (end - start) * out.cols)
                start = end
            }
            servingCache.nodeItemIn.append(input)
            servingCache.nodeOut.append(out)
        }
        servingCache.nodeWeights = counters.weightsVersion
        servingCache.nodeIndexVersion = index.version
    }
}
