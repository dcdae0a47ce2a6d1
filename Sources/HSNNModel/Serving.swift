import HSNNEvents
import HSNNMath

/// How ``RetrievalModel/retrieve(_:k:mode:excluding:)`` searches.
public enum RetrievalMode: Sendable, Hashable {
    /// Beam search down the index; `widths` per index level (nil: the configured beam).
    case beam(widths: [Int]?)
    /// Score every live item with the full model (the reference).
    case exhaustive
}

/// One retrieved item and its logit.
public struct ScoredItem: Sendable, Hashable, Codable {
    public var itemID: String
    public var score: Float
}

/// Top-K items of a retrieval, best first, and the work it took.
public struct RetrievalResult: Sendable, Hashable {
    public var items: [ScoredItem]
    /// Items scored by the item-level model.
    public var itemsScored: Int
    /// Index nodes scored by the level models.
    public var nodesScored: Int
    /// Exhaustive mode only: for each returned item, the 0-based rank of its level-1 node in
    /// the level-1 ordering that beam search uses (how wide the first beam must be to reach it).
    public var firstLevelRanks: [Int] = []
}

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

/// A fixed-size selection of the best `k` (score, item) pairs.
struct TopK {
    let k: Int
    private(set) var heap: [(score: Float, item: Int32)] = []

    init(k: Int) { self.k = k; heap.reserveCapacity(k) }

    @inline(__always) mutating func offer(_ score: Float, _ item: Int32) {
        if heap.count < k {
            heap.append((score, item))
            var c = heap.count - 1
            while c > 0 {
                let p = (c - 1) / 2
                if less(heap[c], heap[p]) { heap.swapAt(c, p); c = p } else { break }
            }
        } else if k > 0, less(heap[0], (score, item)) {
            heap[0] = (score, item)
            var p = 0
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < heap.count, less(heap[l], heap[m]) { m = l }
                if r < heap.count, less(heap[r], heap[m]) { m = r }
                if m == p { break }
                heap.swapAt(p, m); p = m
            }
        }
    }

    /// Ordering: lower score first; on equal scores the higher item index is "smaller" (so the
    /// lower index wins), which makes results deterministic.
    @inline(__always) private func less(_ a: (score: Float, item: Int32), _ b: (score: Float, item: Int32)) -> Bool {
        a.score < b.score || (a.score == b.score && a.item > b.item)
    }

    func sorted() -> [(score: Float, item: Int32)] {
        heap.sorted { $0.score > $1.score || ($0.score == $1.score && $0.item < $1.item) }
    }
}

extension RetrievalModel {
    /// Number of live (retrievable) items.
    public var liveItemCount: Int { catalog.liveCount }

    /// Brings serving caches up to date with the current weights, catalog and index.
    public func prepareForServing() {
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

    /// The `k` best live items for a user, best first, with their logits.
    ///
    /// Beam mode scores the level-1 nodes, keeps the best `beam[0]`, scores their children, ...
    /// (the last index level widens until its leaves hold `beamMinItemsPerK * k` items), then
    /// scores the items of the surviving leaves with the item-level model. Exhaustive mode
    /// scores every live item. Items are ranked by the retrieval head. Items in `excluding` are
    /// scored but never returned, and so are, with `excludeSeen` (the default), the items the
    /// user already engaged with (impressed or clicked) as far as the user's bounded history
    /// (``ModelConfig/crossMaxValuesPerUser`` values) still holds them. The user's cross
    /// features are read at the model's clock (``TrainingCounters/nowMs``).
    public func retrieve(_ query: UserQuery, k: Int, mode: RetrievalMode = .beam(widths: nil),
                         excluding: Set<String> = [], excludeSeen: Bool = true) -> RetrievalResult {
        prepareForServing()
        let ws = serving
        let userHash = stableHash("user_id", query.userID)
        ws.userBatch.reset(fields: layout.userSlots)
        appendUser(userHash: userHash, features: query.userFeatures, to: &ws.userBatch, scratch: &ws.userScratch,
                   denseRow: ws.userIn.row(0) + layout.userSlots * config.embeddingDim)
        userTable.forward(ws.userBatch, pooling: .mean, into: ws.userIn)
        let models = levelModels + [itemModel]
        let workspaces = ws.levelWS + [ws.itemWS]
        for (l, m) in models.enumerated() {
            let u = m.userTower.forward(ws.userIn, workspaces[l].user)
            ws.userOut[l].copy(from: u)
        }
        var excluded = Set<Int32>()
        for id in excluding { if let i = catalog.index(of: id) { excluded.insert(i) } }
        let history = cross.users[userHash]
        let seen = excludeSeen ? history : nil
        var top = TopK(k: k)
        var itemsScored = 0
        var nodesScored = 0
        let now = counters.nowMs

        if config.kind == .twoTower {
            let u = ws.userOut[0].base, d = config.dim
            servingCache.itemOut.withUnsafeBufferPointer { cache in
                for i in 0..<catalog.count where catalog.live[i] {
                    itemsScored += 1
                    if excluded.contains(Int32(i)) || engaged(seen, i) { continue }
                    top.offer(dot(u, cache.baseAddress! + i * d, d), Int32(i))
                }
            }
            return result(top, itemsScored: itemsScored, nodesScored: 0)
        }
        guard let index else { return result(top, itemsScored: 0, nodesScored: 0) }
        let L = levelCount
        // Level outputs o_t of scored nodes, per head (click, retrieval).
        var nodeO: [[[Float]]] = (0..<MoNN.heads).map { _ in
            (0..<index.levels).map { [Float](repeating: 0, count: index.nodeCount(level: $0)) }
        }
        let indexHead = rankingHead(indexLevel: true), itemHead = rankingHead(indexLevel: false)
        let (indexW, indexB) = ensemble(head: indexHead), (itemW, itemB) = ensemble(head: itemHead)
        var frontier: [Int] = []
        var firstLevelRank: [Int] = []
        let exhaustive: Bool
        var widths = config.beam
        switch mode {
        case .exhaustive: exhaustive = true
        case .beam(let w): exhaustive = false; if let w { widths = w }
        }
        for l in 0..<index.levels {
            var candidates: [Int] = []
            if l == 0 {
                for n in 0..<index.sizes[0] where servingCache.nodeHasItems[0][n] { candidates.append(n) }
            } else if exhaustive {
                for n in 0..<index.nodeCount(level: l) where servingCache.nodeHasItems[l][n] { candidates.append(n) }
            } else {
                for p in frontier {
                    for m in 0..<index.sizes[l] {
                        let n = p * index.sizes[l] + m
                        if servingCache.nodeHasItems[l][n] { candidates.append(n) }
                    }
                }
            }
            let o = scoreNodes(level: l, nodes: candidates, history: history, nowMs: now)
            nodesScored += candidates.count
            var z: [(Float, Int)] = []
            z.reserveCapacity(candidates.count)
            for (c, n) in candidates.enumerated() {
                for h in 0..<MoNN.heads { nodeO[h][l][n] = o[c, h] }
                var s = indexB.value.base[l] + indexW.value[l, l] * o[c, indexHead]
                var ancestor = n
                for t in stride(from: l - 1, through: 0, by: -1) {
                    ancestor /= index.sizes[t + 1]
                    s += indexW.value[l, t] * nodeO[indexHead][t][ancestor]
                }
                z.append((s, n))
            }
            if exhaustive {
                frontier = candidates
                if l == 0 {
                    z.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
                    firstLevelRank = [Int](repeating: -1, count: index.sizes[0])
                    for (r, entry) in z.enumerated() { firstLevelRank[entry.1] = r }
                }
            } else {
                z.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
                var keep = min(widths[l], z.count)
                if l == index.levels - 1 {
                    // Widen the last level until the kept leaves hold enough candidates for k.
                    let minItems = config.beamMinItemsPerK * k
                    var items = z.prefix(keep).reduce(0) { $0 + index.members[$1.1].count }
                    while keep < z.count && items < minItems { items += index.members[z[keep].1].count; keep += 1 }
                }
                frontier = z.prefix(keep).map(\.1)
            }
        }
        // Items of the surviving leaves.
        var items: [Int32] = []
        for leaf in frontier { items.append(contentsOf: index.members[leaf]) }
        if exhaustive { items.sort() }
        itemsScored = items.count
        let wRow = L - 1
        var start = 0
        let d = config.dim
        let outWidth = itemModel.itemRows * d
        while start < items.count {
            let chunk = items[start..<min(start + ws.capacity, items.count)]
            let n = chunk.count
            ws.gathered.rows = n
            ws.crossIn.rows = n
            servingCache.itemOut.withUnsafeBufferPointer { cache in
                for (r, i) in chunk.enumerated() {
                    ws.gathered.row(r).update(from: cache.baseAddress! + Int(i) * outWidth, count: outWidth)
                    cross.write(user: history, item: Int(i), catalog: catalog, nowMs: now, into: ws.crossIn.row(r))
                }
            }
            let x = itemModel.interaction!.forward(ws.crossIn, ws.itemWS.interaction!)
            let o = itemModel.head(users: ws.userOut[L - 1], broadcastUser: true, items: ws.gathered, interaction: x, ws.itemWS)
            for (r, i) in chunk.enumerated() {
                if excluded.contains(i) || engaged(seen, Int(i)) { continue }
                var s = itemB.value.base[wRow] + itemW.value[wRow, wRow] * o[r, itemHead]
                for t in 0..<index.levels { s += itemW.value[wRow, t] * nodeO[itemHead][t][index.node(item: Int(i), level: t)] }
                top.offer(s, i)
            }
            start += ws.capacity
        }
        var out = result(top, itemsScored: itemsScored, nodesScored: nodesScored)
        if exhaustive {
            out.firstLevelRanks = top.sorted().map { firstLevelRank[index.node(item: Int($0.item), level: 0)] }
        }
        return out
    }

    /// Whether `history` records an impression or a click of catalog item `i`.
    @inline(__always) func engaged(_ history: UserHistory?, _ i: Int) -> Bool {
        guard let history, let k = history.slotOf[catalog.idHash[i]] else { return false }
        return history.impressions[Int(k)] > 0 || history.clicks[Int(k)] > 0 || history.lastImpressionMs[Int(k)] > 0
    }

    private func result(_ top: TopK, itemsScored: Int, nodesScored: Int) -> RetrievalResult {
        RetrievalResult(items: top.sorted().map { ScoredItem(itemID: catalog.ids[Int($0.item)], score: $0.score) },
                        itemsScored: itemsScored, nodesScored: nodesScored)
    }

    /// The head that ranks at the index levels or the item level: the retrieval head where it
    /// is trained with the retrieval objective, else the click head.
    func rankingHead(indexLevel: Bool) -> Int {
        let trained = config.retrievalNegatives > 0 && config.retrievalWeight > 0 && (!indexLevel || config.retrievalIndexLevels)
        return trained ? 1 : 0
    }

    /// The ensemble (weight, bias) of `head`.
    func ensemble(head: Int) -> (DenseParameter, DenseParameter) {
        head == 1 ? (retrievalEnsembleWeight, retrievalEnsembleBias) : (ensembleWeight, ensembleBias)
    }

    /// Level-`l` MoNN outputs (click, retrieval) for `nodes` (the user tower output is in `serving.userOut[l]`).
    private func scoreNodes(level l: Int, nodes: [Int], history: UserHistory?, nowMs: Int64) -> Matrix {
        let ws = serving, m = levelModels[l], lws = ws.levelWS[l]
        let input = servingCache.nodeItemIn[l], outs = servingCache.nodeOut[l]
        let result = Matrix(rows: nodes.count, cols: MoNN.heads)
        var start = 0
        while start < nodes.count {
            let chunk = nodes[start..<min(start + ws.capacity, nodes.count)]
            ws.interactionIn.rows = chunk.count
            ws.levelGathered.rows = chunk.count
            for (r, n) in chunk.enumerated() {
                ws.interactionIn.row(r).update(from: ws.userIn.row(0), count: userWidth)
                (ws.interactionIn.row(r) + userWidth).update(from: input.row(n), count: levelItemWidth)
                if config.nodeCrossFeatures {
                    writeNodeCross(user: history, profiles: servingCache.profiles, level: l, node: n, nowMs: nowMs,
                                   into: ws.interactionIn.row(r) + userWidth + levelItemWidth)
                }
                ws.levelGathered.row(r).update(from: outs.row(n), count: outs.cols)
            }
            let x = m.interaction!.forward(ws.interactionIn, lws.interaction!)
            let o = m.head(users: ws.userOut[l], broadcastUser: true, items: ws.levelGathered, interaction: x, lws)
            for r in 0..<chunk.count { for h in 0..<MoNN.heads { result[start + r, h] = o[r, h] } }
            start += ws.capacity
        }
        return result
    }

    /// Click probabilities of impressions with the serving path (hard index paths); the model
    /// state is not changed (unknown items are scored with id-only features).
    public func score(_ impressions: [ImpressionEvent]) -> [Float] {
        itemLevelLogits(impressions, head: 0).map(Loss.sigmoid)
    }

    /// Item-level ensemble logits of `head` (0 click, 1 retrieval) for impressions, with the
    /// serving path (hard index paths); the model state is not changed.
    func itemLevelLogits(_ impressions: [ImpressionEvent], head: Int) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(impressions.count)
        refreshRepresentativesIfDirty()
        var start = 0
        while start < impressions.count {
            let end = min(start + config.batchSize, impressions.count)
            featurize(impressions[start..<end].lazy.map { ($0, false) }, count: end - start, createItems: false)
            forward(hard: true)
            let row = (head == 0 ? batch.logits : batch.retrievalLogits).row(levelCount - 1)
            for j in 0..<(end - start) { out.append(row[j]) }
            start = end
        }
        return out
    }

    /// Health of the index (nil for the two-tower baseline).
    public var indexStatistics: IndexStatistics? { index?.statistics(liveItems: catalog.liveCount) }
}
