import HSNNEvents

extension RetrievalModel {
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
}
