extension RetrievalModel {
    /// Items in the fewest leaves (densest first: most of `items` per leaf item) that hold
    /// `share` of `items`; 0 without an index.
    func leafCoverCost(of items: [String], share: Double) -> Int {
        guard let index, !items.isEmpty else { return 0 }
        var hits: [Int: Int] = [:]
        for id in items {
            guard let i = catalog.index(of: id), Int(i) < index.memberPosition.count, index.memberPosition[Int(i)] >= 0 else { continue }
            hits[index.node(item: Int(i), level: index.levels - 1), default: 0] += 1
        }
        let leaves = hits.sorted { a, b in
            let da = Double(a.value) / Double(index.members[a.key].count), db = Double(b.value) / Double(index.members[b.key].count)
            return da != db ? da > db : a.key < b.key
        }
        let need = Int((share * Double(items.count)).rounded(.up))
        var covered = 0, cost = 0
        for (leaf, n) in leaves where covered < need {
            covered += n
            cost += index.members[leaf].count
        }
        return cost
    }
}
