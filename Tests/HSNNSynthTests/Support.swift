import HSNNEvents
import HSNNSynth

/// A small configuration that debug-build tests generate in about a second.
func smallConfig(seed: UInt64 = 7, impressions: Int = 50_000) -> SynthConfig {
    var config = SynthConfig(seed: seed)
    config.numUsers = 400
    config.numItems = 2_000
    config.numCreators = 120
    config.numImpressions = impressions
    config.durationMs = 10 * 86_400_000
    config.meanItemLifetimeMs = 3 * 86_400_000
    return config
}

/// One impression as the tests see it: ids resolved to indices, with its ground truth.
struct LabelledImpression {
    var ordinal: Int
    var user: Int
    var item: Int
    var timestampMs: Int64
    var clicked: Bool
    var probability: Double
}

/// Every impression of the stream, in order (labels from the event or, with click events, the generator).
func impressions(of stream: SyntheticStream) -> [LabelledImpression] {
    var result: [LabelledImpression] = []
    var iterator = stream.makeIterator()
    while let event = iterator.next() {
        guard case .impression(let impression) = event else { continue }
        result.append(LabelledImpression(
            ordinal: iterator.lastImpressionOrdinal ?? -1, user: Int(impression.userID)!,
            item: Int(impression.itemID)!, timestampMs: impression.timestampMs,
            clicked: iterator.lastClicked ?? false, probability: iterator.lastClickProbability ?? -1))
    }
    return result
}

/// A canonical text form of an event, independent of any JSON encoder.
func canonical(_ event: Event) -> String {
    func features(_ f: Features) -> String {
        f.entries.map { entry in
            switch entry.value {
            case .string(let s): "\(entry.name)=\(s)"
            case .strings(let l): "\(entry.name)=[\(l.joined(separator: ","))]"
            case .number(let n): "\(entry.name)=\(n)"
            }
        }.joined(separator: ";")
    }
    switch event {
    case .item(let e):
        return "item|\(e.op.rawValue)|\(e.itemID)|\(e.timestampMs)|\(features(e.features))"
    case .impression(let e):
        return "imp|\(e.eventID)|\(e.requestID)|\(e.timestampMs)|\(e.userID)|\(e.itemID)|\(features(e.userFeatures))|\(String(describing: e.clicked))"
    case .click(let e):
        return "click|\(e.eventID)|\(e.requestID)|\(e.timestampMs)|\(e.userID)|\(e.itemID)"
    }
}

/// 64-bit FNV-1a over the canonical form of the first `count` events.
func streamHash(_ stream: SyntheticStream, count: Int) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for event in stream.prefix(count) {
        for byte in canonical(event).utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        hash ^= 0x0A
        hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
}
