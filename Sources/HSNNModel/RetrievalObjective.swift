import Foundation
import HSNNEvents
import HSNNMath

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

/// The items of the last `capacity` clicks, in a ring: drawing a slot uniformly draws items in
/// proportion to their recent click counts (the popularity-proportional half of the mixed
/// negatives, like in-batch negatives drawn from a window larger than one batch).
struct NegativeMemory: Sendable, Equatable {
    private(set) var items: [Int32]
    /// Next slot to write.
    private(set) var next = 0
    /// Slots written so far (at most the capacity).
    private(set) var filled = 0

    init(capacity: Int) { items = [Int32](repeating: -1, count: max(capacity, 1)) }

    init(items: [Int32], next: Int, filled: Int) {
        self.items = items
        self.next = next
        self.filled = filled
    }

    mutating func push(_ item: Int32) {
        items[next] = item
        next = (next + 1) % items.count
        filled = min(filled + 1, items.count)
    }

    /// A uniformly drawn remembered click (nil while empty).
    func sample(_ rng: inout SeededRandom) -> Int32? {
        guard filled > 0 else { return nil }
        return items[Int(rng.next() % UInt64(filled))]
    }
}

/// The retrieval negatives of one training step: for click `g` (row `positives[g]` of the
/// step), rows `firstNegative + g * perClick ..< firstNegative + (g + 1) * perClick` pair the
/// same user with sampled items.
struct RetrievalSample {
    var positives: [Int] = []
    var negativeItems: [Int32] = []
    var perClick = 0
}

extension RetrievalModel {
    /// Probability that one retrieval negative is `item`: `beta / N_live + (1 - beta) * share_i`,
    /// with `share_i` the item's estimated share of the clicks (see ``FrequencyEstimator``).
    func negativeProbability(_ item: Int) -> Float {
        let beta = Float(config.retrievalUniformShare)
        let live = Float(max(catalog.liveCount, 1))
        return beta / live + (1 - beta) * frequency.share(item)
    }

    /// Draws `training.retrieval_negatives` items for every click among `examples` (rows of the
    /// step in order): uniformly over live items with probability `retrieval_uniform_share`,
    /// else from the memory of recent clicks (uniform while it is empty).
    func sampleRetrievalNegatives(_ examples: some Collection<LabeledExample>) -> RetrievalSample {
        var sample = RetrievalSample()
        let k = config.retrievalNegatives
        guard k > 0, config.retrievalWeight > 0, catalog.liveCount > 0 else { return sample }
        sample.perClick = k
        let beta = Float(config.retrievalUniformShare)
        for (j, ex) in examples.enumerated() where ex.clicked {
            sample.positives.append(j)
            for _ in 0..<k {
                var item: Int32? = nil
                if beta < 1, rng.uniform() >= beta, let m = memory.sample(&rng), catalog.live[Int(m)] { item = m }
                if item == nil { item = randomLiveItem().map(Int32.init) }
                sample.negativeItems.append(item ?? -1)
            }
        }
        return sample
    }

    /// A uniformly drawn live item (nil when none is found quickly).
    func randomLiveItem() -> Int? {
        guard catalog.liveCount > 0 else { return nil }
        for _ in 0..<64 {
            let i = Int(rng.next() % UInt64(catalog.count))
            if catalog.live[i] { return i }
        }
        return nil
    }

    /// Records the clicks of a trained step in the frequency estimator and the click memory.
    func recordClicksForNegatives(_ items: some Sequence<Int32>) {
        for i in items {
            frequency.record(Int(i))
            memory.push(i)
        }
    }
}
