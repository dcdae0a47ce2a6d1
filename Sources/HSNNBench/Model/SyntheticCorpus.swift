import HSNNEvents
import HSNNMath

/// Random items and users for the model benchmarks: features drawn like a small catalog's, so the
/// weights do the work a real corpus gives them (quality is not measured).
enum SyntheticCorpus {
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
}
