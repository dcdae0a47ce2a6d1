import HSNNMath

extension RetrievalModel {
    /// Recomputes the item tower outputs of `items` (serving cache) and, when `assign`, maps
    /// them onto the index with the current weights.
    func refreshItems(_ items: [Int32], assign: Bool) {
        let ws = serving
        let outWidth = itemModel.itemRows * config.dim
        servingCache.ensure(items: catalog.count, width: outWidth)
        var start = 0
        while start < items.count {
            let chunk = items[start..<min(start + ws.capacity, items.count)]
            let out = itemTowerOutputs(chunk)
            for (r, i) in chunk.enumerated() {
                servingCache.storeItem(Int(i), out.row(r), version: catalog.version[Int(i)], weights: counters.weightsVersion)
            }
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

    /// Item tower outputs of a chunk of catalog items (at most the serving workspace's capacity).
    func itemTowerOutputs(_ chunk: ArraySlice<Int32>) -> Matrix {
        let ws = serving
        ws.itemBatch.reset(fields: layout.itemSlots)
        for i in chunk { catalog.append(Int(i), to: &ws.itemBatch, slots: layout.itemSlots, buckets: config.hashBuckets) }
        itemTable.forward(ws.itemBatch, pooling: .mean, into: ws.itemIn)
        writeItemDense(chunk, into: ws.itemIn)
        return itemModel.itemTower.forward(ws.itemIn, ws.itemWS.item)
    }
}
