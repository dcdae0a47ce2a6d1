import HSNNEvents
import HSNNMath
import Testing
@testable import HSNNModel

/// The state behind the retrieval objective: the streaming click-frequency estimator, the
/// memory of recent clicks and the log-Q correction built from them.
@Suite struct RetrievalObjectiveTests {
    @Test func frequencyEstimatorTracksExactClickShares() {
        // A stationary stream: item i gets a share proportional to 1 / (i + 1) of the clicks.
        let items = 20
        let weights = (0..<items).map { 1 / Double($0 + 1) }
        let total = weights.reduce(0, +)
        var cumulative: [Double] = []
        var acc = 0.0
        for w in weights { acc += w / total; cumulative.append(acc) }
        var rng = SeededRandom(seed: 5)
        var estimator = FrequencyEstimator(alpha: 0.01)
        var counts = [Int](repeating: 0, count: items)
        let clicks = 60_000
        for _ in 0..<clicks {
            let u = Double(rng.uniform())
            let i = cumulative.firstIndex { u < $0 } ?? items - 1
            estimator.record(i)
            counts[i] += 1
        }
        #expect(estimator.clicks == Int64(clicks))
        // One snapshot of an average over the last ~2 / alpha gaps: every item within 50% of its
        // exact share, and within 12% on average.
        var errors: [Double] = []
        for i in 0..<items {
            let exact = Double(counts[i]) / Double(clicks)
            let estimate = Double(estimator.share(i))
            errors.append(abs(estimate - exact) / exact)
            #expect(errors[i] <= 0.5, "item \(i): estimate \(estimate) vs exact \(exact)")
        }
        #expect(errors.reduce(0, +) / Double(items) < 0.12, "relative errors \(errors)")
        #expect(estimator.share(items + 5) == 0, "an item never clicked has share 0")
    }

    @Test func frequencyEstimatorFollowsAPeriodicItemExactly() {
        var estimator = FrequencyEstimator(alpha: 0.1)
        // Item 0 is every 4th click, items 1...3 fill the gaps.
        for t in 0..<4_000 { estimator.record(t % 4 == 0 ? 0 : 1 + t % 3) }
        #expect(abs(estimator.share(0) - 0.25) < 1e-3)
    }

    @Test func negativeMemoryCountsMatchItsRing() {
        var memory = NegativeMemory(capacity: 5)
        var rng = SeededRandom(seed: 1)
        #expect(memory.sample(&rng) == nil)
        for i: Int32 in [1, 2, 2, 3, 4, 2, 5] { memory.push(i) }
        // The ring now holds [2, 5, 2, 3, 4] (the first 1 and 2 were overwritten).
        #expect(memory.filled == 5 && memory.items == [2, 5, 2, 3, 4] && memory.next == 2)
        var drawn = [Int32: Int]()
        for _ in 0..<10_000 { drawn[memory.sample(&rng)!, default: 0] += 1 }
        #expect(drawn[1] == nil)
        #expect(abs(Double(drawn[2]!) / 10_000 - 0.4) < 0.03)
        let restored = NegativeMemory(items: memory.items, next: memory.next, filled: memory.filled)
        #expect(restored == memory)
    }

    @Test func logQCorrectionIsTheMixtureProbability() throws {
        var config = tinyConfig(levels: 2)
        config.retrievalUniformShare = 0.25
        let model = try RetrievalModel(config: config)
        for e in tinyItems() { model.apply(e) }
        model.train(tinyExamples(count: 40))
        let live = Float(model.catalog.liveCount)
        for i in 0..<model.catalog.count {
            let expected = 0.25 / live + 0.75 * model.negatives.frequency.share(i)
            #expect(abs(model.negatives.probability(i, liveItems: model.catalog.liveCount) - expected) < 1e-7)
        }
        // The clicks of trained batches are what the estimator and the memory saw.
        let clicks = tinyExamples(count: 40).filter(\.clicked).count
        #expect(model.negatives.frequency.clicks == Int64(clicks))
        #expect(model.negatives.memory.filled == min(clicks, config.negativeMemory))
    }
}
