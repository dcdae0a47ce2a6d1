extension RetrievalModel {
    /// Number of live (retrievable) items.
    public var liveItemCount: Int { catalog.liveCount }

    /// Ids of the live items.
    public func liveItemIDs() -> [String] {
        var out: [String] = []
        out.reserveCapacity(catalog.liveCount)
        for i in 0..<catalog.count where catalog.live[i] { out.append(catalog.ids[i]) }
        return out
    }
}
