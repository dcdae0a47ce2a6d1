/// Streaming estimate of each item's share of the clicks (Yi et al., RecSys 2019, "Sampling-Bias-
/// Corrected Neural Modeling for Large Corpus Item Recommendations", section 4).
///
/// The clock counts clicks. For every click on item `i` at click `t`, the mean gap between two
/// clicks on `i` is updated, `gap_i <- (1 - alpha) gap_i + alpha (t - last_i)`, and `last_i <- t`;
/// the item's share of the clicks is `1 / gap_i`. An item's first click sets `gap_i = t` (one
/// click in `t`). Items never clicked have share 0. Kept per catalog item and checkpointed.
struct FrequencyEstimator: Sendable, Equatable {
    let alpha: Float
    /// Clicks recorded so far (the clock).
    var clicks: Int64 = 0
    /// Clock value of each item's last click (0 = never clicked).
    var lastClick: [Int64] = []
    /// Estimated clicks between two clicks on the item.
    var gap: [Float] = []

    init(alpha: Float) { self.alpha = alpha }

    mutating func ensureCapacity(items: Int) {
        if lastClick.count < items {
            lastClick += [Int64](repeating: 0, count: items - lastClick.count)
            gap += [Float](repeating: 0, count: items - gap.count)
        }
    }

    /// Records one click on `item`.
    mutating func record(_ item: Int) {
        ensureCapacity(items: item + 1)
        clicks += 1
        if lastClick[item] == 0 {
            gap[item] = Float(clicks)
        } else {
            gap[item] = (1 - alpha) * gap[item] + alpha * Float(clicks - lastClick[item])
        }
        lastClick[item] = clicks
    }

    /// Estimated share of the clicks that go to `item` (0 for an item never clicked).
    func share(_ item: Int) -> Float {
        guard item < gap.count, lastClick[item] > 0, gap[item] > 0 else { return 0 }
        return min(1 / gap[item], 1)
    }
}
