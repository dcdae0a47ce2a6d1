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

    /// Builds a corpus at once: stores the features of `count` catalog items (`item(i)` gives the
    /// upsert of item `i`, called in order) without mapping each onto the index, then seeds the
    /// level-1 codebook from them. Call ``prepareForServing()`` next to retrieve from it.
    package func loadCatalogWithoutIndexing(count: Int, item: (Int) -> ItemEvent) {
        for i in 0..<count {
            let event = item(i)
            let idx = catalog.ensure(event.itemID, atMs: event.timestampMs)
            catalog.setFeatures(idx, event.features, layout: &layout, atMs: event.timestampMs)
        }
        seedCodebook()
    }
}
