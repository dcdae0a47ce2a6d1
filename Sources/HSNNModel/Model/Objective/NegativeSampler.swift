import HSNNEvents
import HSNNMath

/// The retrieval negatives of one training step: for click `g` (row `positives[g]` of the
/// step), rows `firstNegative + g * perClick ..< firstNegative + (g + 1) * perClick` pair the
/// same user with sampled items.
struct RetrievalSample {
    var positives: [Int] = []
    var negativeItems: [Int32] = []
    var perClick = 0
}

/// The negatives of the retrieval objective: a mix of items drawn uniformly over the live
/// catalog and items drawn from the memory of recent clicks, with the click-frequency estimate
/// that gives each draw its log-Q correction. Owns the model's random stream after the weights
/// are drawn (its state is part of the checkpoint).
struct NegativeSampler {
    /// Negatives drawn per click (`training.retrieval_negatives`).
    let perClick: Int
    /// Whether the retrieval objective is trained (`training.retrieval_weight > 0`).
    let isActive: Bool
    /// Share of the negatives drawn uniformly over the live items (`training.retrieval_uniform_share`).
    let uniformShare: Float
    /// Click shares for the log-Q correction.
    var frequency: FrequencyEstimator
    /// Recent clicks for the popularity-proportional negatives.
    var memory: NegativeMemory
    var rng: SeededRandom

    init(config: ModelConfig, rng: SeededRandom) {
        perClick = config.retrievalNegatives
        isActive = config.retrievalWeight > 0
        uniformShare = Float(config.retrievalUniformShare)
        frequency = FrequencyEstimator(alpha: Float(config.frequencyAlpha))
        memory = NegativeMemory(capacity: config.negativeMemory)
        self.rng = rng
    }

    /// Probability that one retrieval negative is `item`: `beta / N_live + (1 - beta) * share_i`,
    /// with `share_i` the item's estimated share of the clicks (see ``FrequencyEstimator``).
    func probability(_ item: Int, liveItems: Int) -> Float {
        let beta = uniformShare
        let live = Float(max(liveItems, 1))
        return beta / live + (1 - beta) * frequency.share(item)
    }

    /// Draws ``perClick`` items for every click among `examples` (rows of the step in order):
    /// uniformly over live items with probability ``uniformShare``, else from the memory of
    /// recent clicks (uniform while it is empty).
    mutating func sample(_ examples: some Collection<LabeledExample>, catalog: ItemCatalog) -> RetrievalSample {
        var sample = RetrievalSample()
        let k = perClick
        guard k > 0, isActive, catalog.liveCount > 0 else { return sample }
        sample.perClick = k
        let beta = uniformShare
        for (j, ex) in examples.enumerated() where ex.clicked {
            sample.positives.append(j)
            for _ in 0..<k {
                var item: Int32? = nil
                if beta < 1, rng.uniform() >= beta, let m = memory.sample(&rng), catalog.live[Int(m)] { item = m }
                if item == nil { item = randomLiveItem(catalog).map(Int32.init) }
                sample.negativeItems.append(item ?? -1)
            }
        }
        return sample
    }

    /// A uniformly drawn live item (nil when none is found quickly).
    mutating func randomLiveItem(_ catalog: ItemCatalog) -> Int? {
        guard catalog.liveCount > 0 else { return nil }
        for _ in 0..<64 {
            let i = Int(rng.next() % UInt64(catalog.count))
            if catalog.live[i] { return i }
        }
        return nil
    }

    /// Records the clicks of a trained step in the frequency estimator and the click memory.
    mutating func recordClicks(_ items: some Sequence<Int32>) {
        for i in items {
            frequency.record(Int(i))
            memory.push(i)
        }
    }
}
