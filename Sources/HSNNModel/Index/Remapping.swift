import HSNNMath

extension RetrievalModel {
    /// Re-maps every live item with the current weights (the periodic full pass), recomputes
    /// the representatives, and restarts the temperature schedule softly when many items moved
    /// (when configured). Returns the number of items that changed leaf.
    @discardableResult
    public func remapAll() -> Int64 {
        guard let index else { return 0 }
        if index.attributeWeight > 0, let weights = estimateSlotWeights() { index.slotWeights = weights }
        let before = index.movesTotal
        var live: [Int32] = []
        live.reserveCapacity(catalog.liveCount)
        for i in 0..<catalog.count where catalog.live[i] { live.append(Int32(i)) }
        index.ensureCapacity(items: catalog.count)
        refreshItems(live, assign: true)
        if index.reseedEmptyNodes() > 0 { refreshItems(live, assign: true) }
        index.recomputeRepresentatives()
        recomputeNodeProfiles()
        let moves = index.movesTotal - before
        index.movesLastRemap = moves
        index.remaps += 1
        if config.restartMoveShare > 0, !live.isEmpty, Double(moves) / Double(live.count) > config.restartMoveShare {
            let restart = Int64(config.restartFraction * Double(config.scheduleEvents))
            counters.scheduleEvents = min(counters.scheduleEvents, restart)
        }
        return moves
    }

    /// How strongly the item level's interaction tower responds to each item feature slot's
    /// cross features (and, last, to the item popularity features) on the last trained batch: per slot, the root of the summed squared
    /// first-layer weight norms times the inputs' mean squared magnitudes, scaled to a maximum
    /// of 1. Slot 0 (the item id) gets 0. Nil before the first batch.
    func estimateSlotWeights() -> [Float]? {
        guard let first = itemModel.interaction?.layers.first, batch.count > 0 else { return nil }
        let x = batch.crossIn, n = batch.count, w = first.weight.value
        func weight(_ columns: Range<Int>) -> Float {
            var acc: Float = 0
            for c in columns {
                var m: Float = 0
                for r in 0..<n { let v = x[r, c]; m += v * v }
                acc += m / Float(n) * dot(w.row(c), w.row(c), w.cols)
            }
            return acc.squareRoot()
        }
        // Feature slots 1..., then the item popularity columns (after the user totals).
        var out = [Float](repeating: 0, count: cross.itemSlots + 1)
        for s in 1..<cross.itemSlots { out[s] = weight((s * 5)..<(s * 5 + 5)) }
        if config.signaturePopularity { out[cross.itemSlots] = weight((cross.itemSlots * 5 + 3)..<cross.width) }
        guard let top = out.max(), top > 0, top.isFinite else { return nil }
        return out.map { $0 / top }
    }
}
