import HSNNEvents

extension RetrievalModel {
    /// Expires every live item not seen (in the catalog stream or in an impression) since
    /// `cutoffMs` of event time: each is deleted exactly as a catalog delete would, so it is
    /// never retrieved again (a later upsert brings it back).
    ///
    /// - Returns: the ids expired, in catalog order.
    @discardableResult
    public func expireItems(notSeenSince cutoffMs: Int64) -> [String] {
        var expired: [String] = []
        for i in 0..<catalog.count where catalog.live[i] && catalog.lastSeenMs[i] < cutoffMs {
            expired.append(catalog.ids[i])
        }
        for id in expired {
            apply(ItemEvent(op: .delete, itemID: id, timestampMs: counters.nowMs))
        }
        return expired
    }
}
