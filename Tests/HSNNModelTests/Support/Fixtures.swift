import Foundation
import HSNNEvents
import HSNNSynth
@testable import HSNNModel

/// A tiny model configuration (a few items, users and nodes) for exact checks.
func tinyConfig(kind: ModelKind = .hsnn, levels: Int = 3) -> ModelConfig {
    var c = ModelConfig()
    c.kind = kind
    c.embeddingDim = 4
    c.hashBuckets = 64
    c.maxUserFields = 2
    c.maxItemFields = 2
    c.maxDenseFeatures = 1
    c.maxItemValues = 4
    c.dim = 4
    c.itemLevel = MoNNSize(userRows: 2, itemRows: 2, towerHidden: [6], interactionHidden: [5], overHidden: [5])
    c.indexLevel = MoNNSize(userRows: 3, itemRows: 2, towerHidden: [6], interactionHidden: [5], overHidden: [5])
    c.levels = levels
    c.nodes = [4, 3]
    c.beam = [2, 3]
    c.indexDim = 4
    c.minAlpha = 3
    c.maxAlpha = 3
    c.warmupFraction = 0
    c.batchSize = 8
    c.remapEveryBatches = 0
    c.retrievalNegatives = 4
    c.beamMinItemsPerK = 0
    c.negativeMemory = 16
    c.seed = 11
    return c
}

func tinyItems() -> [ItemEvent] {
    (0..<12).map { i in
        ItemEvent(op: .upsert, itemID: "i\(i)", timestampMs: 1_000,
                  features: Features([("genre", .strings(["g\(i % 3)", "g\((i + 1) % 4)"])), ("creator", .string("c\(i % 5)")),
                                      ("price", .number(Double(i) * 1.5))]))
    }
}

func tinyExamples(count: Int, offset: Int = 0) -> [LabeledExample] {
    (0..<count).map { k in
        let j = k + offset
        let imp = ImpressionEvent(eventID: "e\(j)", requestID: "r\(j)", timestampMs: 2_000 + Int64(j) * 1_000,
                                  userID: "u\(j % 5)", itemID: "i\((j * 7) % 12)",
                                  userFeatures: Features([("age", .string("a\(j % 3)")), ("score", .number(Double(j % 4)))]),
                                  clicked: (j * 5) % 3 == 0)
        return LabeledExample(impression: imp, clicked: (j * 5) % 3 == 0)
    }
}

/// A small synthetic stream (with item births and deletes) as a list of events.
func smallStream(impressions: Int = 6_000, items: Int = 400, seed: UInt64 = 5) throws -> [Event] {
    var c = SynthConfig(seed: seed)
    c.numUsers = 150
    c.numItems = items
    c.numImpressions = impressions
    c.durationMs = 6 * 86_400_000
    return Array(try SyntheticStream(config: c))
}

func smallConfig(kind: ModelKind = .hsnn, levels: Int = 2) -> ModelConfig {
    var c = tinyConfig(kind: kind, levels: levels)
    c.embeddingDim = 8
    c.hashBuckets = 4096
    c.maxUserFields = 4
    c.maxItemFields = 5
    c.dim = 8
    c.nodes = [8, 3]
    c.beam = [3, 4]
    c.indexDim = 8
    c.minAlpha = 5
    c.maxAlpha = 50
    c.scheduleEvents = 4_000
    c.warmupFraction = 0.1
    c.batchSize = 64
    c.remapEveryBatches = 20
    // Two heads (click, retrieval) share the over-arch: give them room.
    c.itemLevel.overHidden = [16]
    c.indexLevel.overHidden = [16]
    return c
}

/// A model of `config` trained on a small stream of `impressions`, and that stream.
func modelTrainedOnSmallStream(_ config: ModelConfig, impressions: Int) throws -> (RetrievalModel, [Event]) {
    let events = try smallStream(impressions: impressions)
    let model = try RetrievalModel(config: config)
    var batch: [LabeledExample] = []
    feed(model, events[...], batch: &batch)
    return (model, events)
}

/// The impressions among `events`, in order.
func impressions(in events: [Event]) -> [ImpressionEvent] {
    events.compactMap { event in
        if case .impression(let imp) = event { return imp } else { return nil }
    }
}

/// Feeds events in order: catalog events applied, labelled impressions trained in batches.
func feed(_ model: RetrievalModel, _ events: ArraySlice<Event>, batch: inout [LabeledExample]) {
    for e in events {
        switch e {
        case .item(let item): model.apply(item)
        case .impression(let imp):
            batch.append(LabeledExample(impression: imp, clicked: imp.clicked ?? false))
            if batch.count == model.config.batchSize { model.train(batch); batch.removeAll() }
        case .click: break
        }
    }
}

func payloadsEqual(_ a: SnapshotTensor.Payload, _ b: SnapshotTensor.Payload) -> Bool {
    switch (a, b) {
    case (.f32(let x), .f32(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.bitPattern == $1.bitPattern }
    case (.i32(let x), .i32(let y)): return x == y
    case (.i64(let x), .i64(let y)): return x == y
    case (.u8(let x), .u8(let y)): return x == y
    default: return false
    }
}

/// Every tensor and the header of two snapshots, bit for bit; returns the names that differ.
func differences(_ a: ModelSnapshot, _ b: ModelSnapshot) -> [String] {
    var out: [String] = []
    if a.header != b.header { out.append("model.json") }
    if a.itemIDs != b.itemIDs { out.append("items.json") }
    for (x, y) in [(a.weights, b.weights), (a.optimizer, b.optimizer), (a.state, b.state)] {
        if x.count != y.count { out.append("tensor count"); continue }
        for (s, t) in zip(x, y) where s.name != t.name || s.shape != t.shape || !payloadsEqual(s.payload, t.payload) { out.append(s.name) }
    }
    return out
}
