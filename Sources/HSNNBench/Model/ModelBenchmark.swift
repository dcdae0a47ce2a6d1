import HSNNEvents
import HSNNMath
import HSNNModel
import HSNNSupport

/// Benchmarks of the model: training throughput with FLOP accounting, and retrieval latency
/// against corpus size for beam and exhaustive search. They print nothing; callers (the
/// `hsnn bench` commands) print the results' JSON.
public enum ModelBenchmark {
    /// Measures the `cblas_sgemm` peak (`peakN` cubed, five runs), then ``training(config:examples:items:users:seed:)``.
    /// - Throws: ``HSNNModel/ModelConfigError`` when `config` is invalid.
    public static func trainingAgainstPeak(config: ModelConfig, examples: Int, peakN: Int) throws -> TrainingAgainstPeak {
        let peak = SgemmPeak.measure(n: peakN, repetitions: 5)
        let result = try training(config: config, examples: examples)
        return TrainingAgainstPeak(training: result, peakGflops: peak.medianGFLOPS)
    }

    /// Trains `config` on `examples` synthetic impressions over `items` items and `users` users
    /// (random features; weights are what is measured, not quality) and times `train`.
    /// - Throws: ``HSNNModel/ModelConfigError`` when `config` is invalid.
    public static func training(config: ModelConfig = ModelConfig(), examples: Int = 200_000, items: Int = 20_000,
                                users: Int = 5_000, seed: UInt64 = 1) throws -> TrainingResult {
        let model = try RetrievalModel(config: config)
        var rng = SeededRandom(seed: seed)
        for i in 0..<items { model.apply(SyntheticCorpus.randomItem(i, &rng)) }
        var data: [LabeledExample] = []
        data.reserveCapacity(examples)
        for j in 0..<examples {
            let u = Int(rng.next() % UInt64(users)), i = Int(rng.next() % UInt64(items))
            let imp = ImpressionEvent(eventID: "e\(j)", requestID: "r\(j)", timestampMs: 1_700_000_000_000 + Int64(j) * 100,
                                      userID: "\(u)", itemID: "\(i)", userFeatures: SyntheticCorpus.userFeatures(u), clicked: nil)
            data.append(LabeledExample(impression: imp, clicked: rng.uniform() < 0.05))
        }
        // Warm-up batches (codebook seeding, first allocations) are not timed.
        let warm = min(config.batchSize * 20, examples / 10)
        model.train(Array(data[..<warm]))
        let start = ContinuousClock.now
        var k = warm
        while k < data.count {
            let end = min(k + config.batchSize, data.count)
            model.train(Array(data[k..<end]))
            k = end
        }
        let seconds = elapsed(start)
        let n = data.count - warm
        let clicks = data[warm...].reduce(0) { $0 + ($1.clicked ? 1 : 0) }
        let negatives = config.retrievalWeight > 0 ? config.retrievalNegatives : 0
        let rows = 1 + Double(clicks) / Double(max(n, 1)) * Double(negatives)
        // The user towers run once per impression; every other part once per row.
        let user = Double(model.userTowerMacsPerExample)
        let macs = Int((user + (Double(model.forwardMacsPerExample) - user) * rows).rounded())
        let eps = Double(n) / max(seconds, 1e-9)
        var result = TrainingResult(kind: config.kind.rawValue, examples: n, batchSize: config.batchSize, seconds: seconds,
                                    examplesPerSecond: eps, forwardMacsPerExample: macs, flopsPerExample: 6 * Double(macs),
                                    achievedGflops: eps * 6 * Double(macs) / 1e9, blasThreads: BLASThreads.count, blasCore: OpenBLASCore.active)
        result.rowsPerExample = rows
        return result
    }

    /// Retrieval latency per user at each corpus size, for beam and exhaustive search, with random
    /// weights. The index grows with the corpus (`sqrt(items)` level-1 nodes by default, so beam
    /// search scores about `beam * sqrt(items)` items); exhaustive search scores every item.
    /// - Throws: ``HSNNModel/ModelConfigError`` when the configuration is invalid.
    public static func retrieval(itemCounts: [Int] = [100_000, 1_000_000, 10_000_000], config: ModelConfig = ModelConfig(),
                                 beam: Int = 16, beamQueries: Int = 200, exhaustiveQueries: Int = 5,
                                 exhaustiveMaxItems: Int = .max, seed: UInt64 = 1) throws -> [RetrievalResult] {
        var results: [RetrievalResult] = []
        for n in itemCounts {
            var c = config
            c.kind = .hsnn
            c.levels = 2
            c.maxItemValues = 6
            let k = max(16, Int(Double(n).squareRoot().rounded()))
            c.nodes = [k]
            c.beam = [beam]
            let buildStart = ContinuousClock.now
            let model = try RetrievalModel(config: c)
            var rng = SeededRandom(seed: seed)
            model.loadCatalogWithoutIndexing(count: n) { SyntheticCorpus.randomItem($0, &rng) }
            model.prepareForServing()
            let build = elapsed(buildStart)
            for (mode, queries) in [(RetrievalMode.beam(widths: nil), beamQueries), (.exhaustive, exhaustiveQueries)] {
                if case .exhaustive = mode, n > exhaustiveMaxItems { continue }
                var times: [Double] = []
                var scored = 0.0, nodes = 0.0
                for q in 0..<queries {
                    let u = q * 7919 % 5_000
                    let start = ContinuousClock.now
                    let r = model.retrieve(UserQuery(userID: "\(u)", userFeatures: SyntheticCorpus.userFeatures(u)), k: 100, mode: mode)
                    times.append(elapsed(start) * 1_000)
                    scored += Double(r.itemsScored)
                    nodes += Double(r.nodesScored)
                }
                times.sort()
                let isBeam: Bool
                if case .beam = mode { isBeam = true } else { isBeam = false }
                results.append(RetrievalResult(
                    items: n, mode: isBeam ? "beam" : "exhaustive", nodes: c.nodes, beam: isBeam ? c.beam : [], queries: queries,
                    p50Ms: times[times.count / 2], p99Ms: times[min(times.count - 1, Int(Double(times.count) * 0.99))],
                    meanMs: times.reduce(0, +) / Double(times.count), itemsScoredPerQuery: scored / Double(queries),
                    nodesScoredPerQuery: nodes / Double(queries), buildSeconds: build))
            }
        }
        return results
    }

    static func elapsed(_ start: ContinuousClock.Instant) -> Double {
        start.duration(to: .now).inSeconds
    }
}
