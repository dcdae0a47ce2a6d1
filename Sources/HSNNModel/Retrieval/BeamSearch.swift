import HSNNEvents
import HSNNMath

extension RetrievalModel {
    /// The `k` best live items for a user, best first, with their logits.
    ///
    /// Beam mode scores the level-1 nodes, keeps the best `beam[0]`, scores their children, ...
    /// (the last index level widens until its leaves hold `beamMinItemsPerK * k` items), then
    /// scores the items of the surviving leaves, and the model's head items
    /// (``ModelConfig/beamHeadShare``, see `servingHead()`), with the item-level model. Exhaustive mode
    /// scores every live item. Items are ranked by the retrieval head. Items in `excluding` are
    /// scored but never returned, and so are, with `excludeSeen` (the default), the items the
    /// user already engaged with (impressed or clicked) as far as the user's bounded history
    /// (``ModelConfig/crossMaxValuesPerUser`` values) still holds them. The user's cross
    /// features are read at the model's clock (``TrainingCounters/nowMs``).
    public func retrieve(_ query: UserQuery, k: Int, mode: RetrievalMode = .beam(widths: nil),
                         excluding: Set<String> = [], excludeSeen: Bool = true) -> RetrievalResult {
        prepareForServing()
        var excluded = Set<Int32>()
        for id in excluding { if let i = catalog.index(of: id) { excluded.insert(i) } }
        var head: ArraySlice<Int32> = []
        if case .beam = mode, config.kind == .hsnn {
            let all = servingHead()
            head = all.prefix(min(all.count, config.beamHeadPerK.multipliedReportingOverflow(by: k).partialValue))
        }
        let userHash = stableHash("user_id", query.userID)
        let ranked = rank(userHash: userHash, features: query.userFeatures, k: k, mode: mode,
                          excluded: excluded, excludeSeen: excludeSeen, head: head)
        let top = ranked.top.sorted()
        var out = RetrievalResult(items: top.map { ScoredItem(itemID: catalog.ids[Int($0.item)], score: $0.score) },
                                  itemsScored: ranked.itemsScored, nodesScored: ranked.nodesScored)
        if let ranks = ranked.firstLevelRank, let index {
            out.firstLevelRanks = top.map { ranks[index.node(item: Int($0.item), level: 0)] }
        }
        return out
    }

    /// The items beam search scores besides its leaves', best first (``ModelConfig/beamHeadShare``
    /// of the live items; a query for `k` items uses the first ``ModelConfig/beamHeadPerK`` `* k`):
    /// the ones the model ranks highest for a user it knows nothing about (no id, no features, no
    /// history), its prior over the catalog. A retrieval-trained model leans on that prior, and
    /// its favourites are spread over many leaves, where a narrow beam would miss them.
    /// Recomputed (one exhaustive ranking) when the weights, the catalog, the index or the
    /// model's clock change; ``prepareForServing()`` brings it up to date.
    func servingHead() -> [Int32] {
        let key = ServingCache.HeadKey(weights: counters.weightsVersion, catalog: catalog.mutations,
                                       index: index?.version ?? -1, nowMs: counters.nowMs)
        if servingCache.headKey == key { return servingCache.head }
        let count = Int((config.beamHeadShare * Double(liveItemCount)).rounded(.up))
        var head: [Int32] = []
        if count > 0 {
            let probe = rank(userHash: nil, features: Features(), k: count, mode: .exhaustive,
                             excluded: [], excludeSeen: false, head: [])
            head = probe.top.sorted().map(\.item)
        }
        servingCache.head = head
        servingCache.headKey = key
        return head
    }

    /// Ranks the live items for one user (`userHash` nil: no id) and counts the work.
    /// `firstLevelRank` (exhaustive mode) maps each level-1 node to its rank.
    private func rank(userHash: UInt64?, features: Features, k: Int, mode: RetrievalMode,
                      excluded: Set<Int32>, excludeSeen: Bool, head: ArraySlice<Int32>)
        -> (top: TopK, itemsScored: Int, nodesScored: Int, firstLevelRank: [Int]?) {
        let ws = serving
        ws.userBatch.reset(fields: layout.userSlots)
        appendUser(userHash: userHash, features: features, to: &ws.userBatch, scratch: &ws.userScratch,
                   denseRow: ws.userIn.row(0) + layout.userSlots * config.embeddingDim)
        userTable.forward(ws.userBatch, pooling: .mean, into: ws.userIn)
        let models = levelModels + [itemModel]
        let workspaces = ws.levelWS + [ws.itemWS]
        for (l, m) in models.enumerated() {
            let u = m.userTower.forward(ws.userIn, workspaces[l].user)
            ws.userOut[l].copy(from: u)
        }
        let history = userHash.flatMap { cross.users[$0] }
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
            return (top, itemsScored, 0, nil)
        }
        guard let index else { return (top, 0, 0, nil) }
        let L = levelCount
        // Level outputs o_t of scored nodes, per head (click, retrieval).
        var nodeO: [[[Float]]] = (0..<MoNN.heads).map { _ in
            (0..<index.levels).map { [Float](repeating: 0, count: index.nodeCount(level: $0)) }
        }
        var nodeScored: [[Bool]] = (0..<index.levels).map { [Bool](repeating: false, count: index.nodeCount(level: $0)) }
        func score(level l: Int, _ nodes: [Int]) -> Matrix {
            let o = scoreNodes(level: l, nodes: nodes, history: history, nowMs: now)
            for (c, n) in nodes.enumerated() {
                for h in 0..<MoNN.heads { nodeO[h][l][n] = o[c, h] }
                nodeScored[l][n] = true
            }
            nodesScored += nodes.count
            return o
        }
        let indexHead = rankingHead(indexLevel: true), itemHead = rankingHead(indexLevel: false)
        let (indexW, indexB) = ensemble(head: indexHead), (itemW, itemB) = ensemble(head: itemHead)
        var frontier: [Int] = []
        var firstLevelRank: [Int]?
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
            let o = score(level: l, candidates)
            var z: [(Float, Int)] = []
            z.reserveCapacity(candidates.count)
            for (c, n) in candidates.enumerated() {
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
                    var ranks = [Int](repeating: -1, count: index.sizes[0])
                    for (r, entry) in z.enumerated() { ranks[entry.1] = r }
                    firstLevelRank = ranks
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
        // Items of the surviving leaves, then the head items outside them (their ancestors'
        // outputs enter their scores, so unscored ancestors are scored first).
        var items: [Int32] = []
        for leaf in frontier { items.append(contentsOf: index.members[leaf]) }
        if exhaustive { items.sort() }
        let last = index.levels - 1
        var kept = [Bool](repeating: false, count: index.nodeCount(level: last))
        for leaf in frontier { kept[leaf] = true }
        let extra = head.filter { !kept[index.node(item: Int($0), level: last)] }
        if !extra.isEmpty {
            for l in 0..<index.levels {
                var nodes: [Int] = []
                for i in extra {
                    let n = index.node(item: Int(i), level: l)
                    if !nodeScored[l][n] { nodeScored[l][n] = true; nodes.append(n) }
                }
                if !nodes.isEmpty { _ = score(level: l, nodes) }
            }
            items.append(contentsOf: extra)
        }
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
                // Ranking by the click head: its whole logit, the item's click prior included.
                if itemHead == 0, config.clickPrior { s += cross.priorLogit(item: Int(i), catalog: catalog) }
                top.offer(s, i)
            }
            start += ws.capacity
        }
        return (top, itemsScored, nodesScored, firstLevelRank)
    }

    /// Whether `history` records an impression or a click of catalog item `i`.
    @inline(__always) func engaged(_ history: UserHistory?, _ i: Int) -> Bool {
        guard let history, let k = history.slotOf[catalog.idHash[i]] else { return false }
        return history.impressions[Int(k)] > 0 || history.clicks[Int(k)] > 0 || history.lastImpressionMs[Int(k)] > 0
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
                    cross.writeNode(user: history, profiles: servingCache.profiles, level: l, node: n, catalog: catalog, nowMs: nowMs,
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
}
