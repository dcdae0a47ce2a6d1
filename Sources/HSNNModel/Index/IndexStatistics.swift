/// Health of the hierarchical index: sizes, empty nodes, moves.
public struct IndexStatistics: Sendable, Hashable, Codable {
    public var levels: Int
    public var codebookSizes: [Int]
    /// Items on a leaf (equals the live items when the index is consistent).
    public var indexedItems: Int
    public var liveItems: Int
    public var leaves: Int
    public var emptyLeaves: Int
    public var nonEmptyNodesPerLevel: [Int]
    /// Distribution of non-empty leaf sizes.
    public var leafSizeMin: Int
    public var leafSizeP50: Int
    public var leafSizeP90: Int
    public var leafSizeP99: Int
    public var leafSizeMax: Int
    /// Items that changed leaf (continuous re-mapping and full passes).
    public var movesTotal: Int64
    /// Moves in the last full re-mapping pass.
    public var movesLastRemap: Int64
    public var remaps: Int64
    /// Empty level-1 nodes re-seeded onto crowded regions.
    public var reseededNodes: Int64
}

extension IndexStatistics {
    /// The headline figures under one set of names, for the training summary, the daemon's
    /// gauges and the checkpoint manifest.
    public var summary: [String: Int64] {
        [
            "indexed_items": Int64(indexedItems), "leaves": Int64(leaves), "empty_leaves": Int64(emptyLeaves),
            "leaf_size_p50": Int64(leafSizeP50), "leaf_size_p90": Int64(leafSizeP90),
            "leaf_size_p99": Int64(leafSizeP99), "leaf_size_max": Int64(leafSizeMax),
            "moves_total": movesTotal, "moves_last_remap": movesLastRemap, "remaps": remaps,
        ]
    }
}

extension LearnedIndex {
    /// Health of the index.
    func statistics(liveItems: Int) -> IndexStatistics {
        var sizesNonEmpty: [Int] = []
        var empty = 0
        for m in members { if m.isEmpty { empty += 1 } else { sizesNonEmpty.append(m.count) } }
        sizesNonEmpty.sort()
        func pct(_ p: Double) -> Int {
            sizesNonEmpty.isEmpty ? 0 : sizesNonEmpty[min(sizesNonEmpty.count - 1, Int(p * Double(sizesNonEmpty.count)))]
        }
        var nonEmptyPerLevel: [Int] = []
        for t in 0..<levels {
            var seen = Set<Int>()
            for i in 0..<memberPosition.count where memberPosition[i] >= 0 { seen.insert(node(item: i, level: t)) }
            nonEmptyPerLevel.append(seen.count)
        }
        return IndexStatistics(
            levels: levels, codebookSizes: sizes, indexedItems: sizesNonEmpty.reduce(0, +), liveItems: liveItems,
            leaves: members.count, emptyLeaves: empty, nonEmptyNodesPerLevel: nonEmptyPerLevel,
            leafSizeMin: sizesNonEmpty.first ?? 0, leafSizeP50: pct(0.5), leafSizeP90: pct(0.9), leafSizeP99: pct(0.99),
            leafSizeMax: sizesNonEmpty.last ?? 0, movesTotal: movesTotal, movesLastRemap: movesLastRemap, remaps: remaps,
            reseededNodes: reseeded)
    }
}

extension RetrievalModel {
    /// Health of the index (nil for the two-tower baseline).
    public var indexStatistics: IndexStatistics? { index?.statistics(liveItems: catalog.liveCount) }
}
