@testable import HSNNEvents
import HSNNSynth
import HSNNMath

// Generated cases use HSNNMath's SeededRandom (SplitMix64), so they are reproducible.

/// The fixed "now" of test decoders: 2023-11-14T22:13:20Z.
let testNowMs: Int64 = 1_700_000_000_000

/// A decoder with a fixed clock and default limits.
func testDecoder(_ limits: DecoderLimits = DecoderLimits()) -> EventDecoder {
    EventDecoder(limits: limits, clock: { testNowMs })
}

/// Decodes and returns the failure, or nil when the message decoded.
func failure(_ message: [UInt8], _ decoder: EventDecoder = testDecoder()) -> DecodeFailure? {
    do {
        _ = try decoder.decode(message)
        return nil
    } catch {
        return error
    }
}

func failure(_ message: String, _ decoder: EventDecoder = testDecoder()) -> DecodeFailure? {
    failure(Array(message.utf8), decoder)
}

/// Random events covering every event kind, feature shape and awkward string.
struct EventGenerator {
    var rng: SeededRandom

    init(seed: UInt64) { rng = SeededRandom(seed: seed) }

    private static let awkward = [
        "a", "Action", "25-34", "quote\"d", "back\\slash", "slash/", "tab\tnew\nline\r", "\u{01}\u{1F}",
        "é", "日本語", "😀🎬", "emoji 🇫🇷 flag", "\u{2028}", "{\"json\":[1]}", "   ", "long-" + String(repeating: "x", count: 100),
    ]

    mutating func string() -> String {
        switch rng.next() % 4 {
        case 0: Self.awkward[Int(rng.next() % UInt64(Self.awkward.count))]
        case 1: String(rng.next() % 100_000)
        default:
            String((0..<Int(1 + rng.next() % 12)).map { _ in Character(Unicode.Scalar(UInt8(0x61 + rng.next() % 26))) })
        }
    }

    mutating func number() -> Double {
        switch rng.next() % 6 {
        case 0: Double(Int(rng.next() % 5000) - 2500)
        case 1: Double(bitPattern: rng.next() & 0x7FEF_FFFF_FFFF_FFFF) * (rng.next() % 2 == 0 ? 1 : -1)
        case 2: Double(rng.next() % 1_000_000) / 1000
        case 3: 1e22 * Double(rng.next() % 1000)
        case 4: Double.leastNonzeroMagnitude * Double(rng.next() % 10)
        default: Double.random(in: -1...1, using: &rng)
        }
    }

    mutating func features() -> Features {
        var features = Features()
        for _ in 0..<Int(rng.next() % 6) {
            let value: FeatureValue
            switch rng.next() % 3 {
            case 0: value = .string(string())
            case 1: value = .strings((0..<Int(rng.next() % 4)).map { _ in string() })
            default: value = .number(number())
            }
            features.entries.append((string(), value))
        }
        return features
    }

    mutating func timestamp() -> Int64 { Int64(rng.next() % UInt64(testNowMs)) }

    mutating func event() -> Event {
        switch rng.next() % 4 {
        case 0:
            .item(ItemEvent(op: .upsert, itemID: string(), timestampMs: timestamp(), features: features()))
        case 1:
            .item(ItemEvent(op: .delete, itemID: string(), timestampMs: timestamp()))
        case 2:
            .impression(ImpressionEvent(
                eventID: string(), requestID: string(), timestampMs: timestamp(), userID: string(), itemID: string(),
                userFeatures: features(), clicked: [nil, true, false][Int(rng.next() % 3)]))
        default:
            .click(ClickEvent(eventID: string(), requestID: string(), timestampMs: timestamp(), userID: string(),
                              itemID: string()))
        }
    }
}
