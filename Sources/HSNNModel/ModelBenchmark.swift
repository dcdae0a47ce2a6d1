import Foundation
import HSNNEvents
import HSNNMath

/// Benchmarks of the model: training throughput with FLOP accounting, and retrieval latency
/// against corpus size for beam and exhaustive search. They print nothing; callers (the
/// `hsnn bench` commands) format the results.
public enum ModelBenchmark {
    /// Training throughput of one configuration.
    public struct TrainingResult: Sendable, Hashable, Codable {
        public var kind: String
        public var examples: Int
        public var batchSize: Int
        public var seconds: Double
        public var examplesPerSecond: Double
        /// Multiply-accumulates of one example's forward pass (dense layers, dot products, LTI).
        public var forwardMacsPerExample: Int
        /// Model rows per example: the impression plus, for a click, its retrieval negatives.
        public var rowsPerExample: Double = 1
        /// Training FLOPs per example: 6 x forward MACs (forward 2, backward 4), over every row.
        public var flopsPerExample: Double
        public var achievedGflops: Double
        public var blasThreads: Int
        public var blasCore: String
    }

    /// Retrieval latency at one corpus size.
    public struct RetrievalResult: Sendable, Hashable, Codable {
        public var items: Int
        public var mode: String
        public var nodes: [Int]
        public var beam: [Int]
        public var queries: Int
        public var p50Ms: Double
        public var p99Ms: Double
        public var meanMs: Double
        public var itemsScoredPerQuery: Double
        public var nodesScoredPerQuery: Double
        public var buildSeconds: Double
    }

    /// Trains `config` on `examples` synthetic impressions over `items` items and `users` users
    /// (random features; weights are what is measured, not quality) and times `train`.
    public static func training(config: ModelConfig = ModelConfig(), examples: Int = 200_000, items: Int = 20_000,
                                users: Int = 5_000, seed: UInt64 = 1) throws -> TrainingResult {
        let model = try RetrievalModel(config: config)
        var rng = SeededRandom(seed: seed)
        for i in 0..<items { model.apply(randomItem(i, &rng)) }
        var data: [LabeledExample] = []
        data.reserveCapacity(examples)
        for j in 0..<examples {
            let u = Int(rng.next() % UInt64(users)), i = Int(rng.next() % UInt64(items))
            let imp = ImpressionEvent(eventID: "e\(j)", requestID: "r\(j)", timestampMs: 1_700_000_000_000 + Int64(j) * 100,
                                      userID: "\(u)", itemID: "\(i)", userFeatures: userFeatures(u), clicked: nil)
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
            for i in 0..<n {
                let e = randomItem(i, &rng)
                let idx = model.catalog.ensure(e.itemID, atMs: e.timestampMs)
                model.catalog.setFeatures(idx, e.features, layout: &model.layout, atMs: e.timestampMs)
            }
            model.seedCodebook()
            model.prepareForServing()
            let build = elapsed(buildStart)
            for (mode, queries) in [(RetrievalMode.beam(widths: nil), beamQueries), (.exhaustive, exhaustiveQueries)] {
                if case .exhaustive = mode, n > exhaustiveMaxItems { continue }
                var times: [Double] = []
                var scored = 0.0, nodes = 0.0
                for q in 0..<queries {
                    let u = q * 7919 % 5_000
                    let start = ContinuousClock.now
                    let r = model.retrieve(UserQuery(userID: "\(u)", userFeatures: userFeatures(u)), k: 100, mode: mode)
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

    static func randomItem(_ i: Int, _ rng: inout SeededRandom) -> ItemEvent {
        let cat = rng.next() % 30, g1 = rng.next() % 30, g2 = rng.next() % 30, creator = rng.next() % 5_000
        return ItemEvent(op: .upsert, itemID: "\(i)", timestampMs: 1_700_000_000_000, features: Features([
            ("category", .string("cat\(cat)")), ("genre", .strings(["g\(g1)", "g\(g2)"])), ("creator", .string("cr\(creator)")),
            ("price_tier", .string("\(rng.next() % 4)")), ("price", .number(Double(rng.next() % 10_000) / 100)),
        ]))
    }

    static func userFeatures(_ u: Int) -> Features {
        Features([("age", .string("a\(u % 6)")), ("gender", .string(u % 2 == 0 ? "F" : "M")),
                  ("country", .string("C\(u % 20)")), ("segment", .string("s\(u % 6)"))])
    }

    static func elapsed(_ start: ContinuousClock.Instant) -> Double {
        let d = start.duration(to: .now)
        return Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
    }
}

extension RetrievalModel {
    /// Multiply-accumulates of one training example's forward pass.
    public var forwardMacsPerExample: Int {
        func mlp(_ m: MLP?) -> Int { m?.layers.reduce(0) { $0 + $1.inputs * $1.outputs } ?? 0 }
        func monn(_ m: MoNN) -> Int { mlp(m.userTower) + mlp(m.itemTower) + mlp(m.interaction) + m.headMACs }
        var total = monn(itemModel) + levelModels.reduce(0) { $0 + monn($1) }
        if let index {
            total += index.projection.inputs * index.projection.outputs
            // Distances and soft node embeddings per level.
            total += index.sizes.reduce(0) { $0 + 2 * $1 * index.dim }
        }
        return total
    }

    /// Multiply-accumulates of the user towers in ``forwardMacsPerExample``: a retrieval
    /// negative shares its click's user tower outputs, so these run once per impression.
    public var userTowerMacsPerExample: Int {
        ([itemModel] + levelModels).reduce(0) { $0 + ($1.userTower.layers.reduce(0) { $0 + $1.inputs * $1.outputs }) }
    }
}
