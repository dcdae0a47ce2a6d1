import Foundation
import HSNNEvents

/// Messages stored back to back in one buffer, like a batch of consumed Kafka payloads.
struct MessageSet {
    var bytes: [UInt8] = []
    var offsets: [Int] = [0]

    init(_ messages: [String]) {
        for message in messages {
            bytes.append(contentsOf: message.utf8)
            offsets.append(bytes.count)
        }
    }

    var count: Int { offsets.count - 1 }
    var meanBytes: Double { Double(bytes.count) / Double(max(count, 1)) }

    /// Calls `body` on every message; returns how many calls returned false.
    @discardableResult
    func forEach(_ body: (UnsafeRawBufferPointer) -> Bool) -> Int {
        bytes.withUnsafeBytes { all in
            var rejected = 0
            for i in 0..<count {
                let message = UnsafeRawBufferPointer(rebasing: all[offsets[i]..<offsets[i + 1]])
                if !body(message) { rejected += 1 }
            }
            return rejected
        }
    }
}

/// The impression fields, for the `JSONDecoder` reference.
struct CodableImpression: Decodable {
    var type: String
    var event_id: String
    var request_id: String?
    var ts_ms: Int64
    var user_id: String
    var item_id: String
    var user_features: [String: String]?
    var clicked: Bool?
}

/// Production-like messages: UUID event and request ids, numeric user/item ids as strings,
/// MovieLens-style user features, a mix of labelled and unlabelled impressions.
struct MessageGenerator {
    var state: UInt64
    let nowMs: Int64
    let encoder = EventEncoder()

    static let ages = ["under-18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"]
    static let occupations = ["writer", "programmer", "student", "educator", "engineer", "artist", "executive",
                              "healthcare", "lawyer", "librarian", "marketing", "retired", "scientist", "technician"]
    static let genres = ["Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary", "Drama",
                         "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War"]

    init(seed: UInt64, nowMs: Int64) {
        state = seed
        self.nowMs = nowMs
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func uuid() -> String {
        let hex = Array("0123456789abcdef")
        var s = ""
        for i in 0..<32 {
            if i == 8 || i == 12 || i == 16 || i == 20 { s.append("-") }
            s.append(hex[Int(next() & 15)])
        }
        return s
    }

    mutating func pick(_ values: [String]) -> String { values[Int(next() % UInt64(values.count))] }

    mutating func timestamp() -> Int64 { nowMs - Int64(next() % 3_600_000) }

    mutating func impression() -> String {
        let clicked: Bool? = switch next() % 3 {
        case 0: nil
        case 1: true
        default: false
        }
        let event = Event.impression(ImpressionEvent(
            eventID: uuid(), requestID: uuid(), timestampMs: timestamp(), userID: String(next() % 1_000_000),
            itemID: String(next() % 100_000),
            userFeatures: Features([
                ("age", .string(pick(Self.ages))), ("gender", .string(next() % 2 == 0 ? "F" : "M")),
                ("occupation", .string(pick(Self.occupations))), ("zip", .string(String(10_000 + next() % 90_000))),
            ]),
            clicked: clicked))
        return (try? encoder.encode(event)) ?? ""
    }

    mutating func mixed() -> String {
        switch next() % 10 {
        case 0:
            let genres = (0..<Int(1 + next() % 3)).map { _ in pick(Self.genres) }
            let event = Event.item(ItemEvent(op: .upsert, itemID: String(next() % 100_000), timestampMs: timestamp(),
                                             features: Features([("genre", .strings(genres)),
                                                                 ("year", .number(Double(1920 + next() % 100)))])))
            return (try? encoder.encode(event)) ?? ""
        case 1, 2:
            let event = Event.click(ClickEvent(eventID: uuid(), requestID: uuid(), timestampMs: timestamp(),
                                               userID: String(next() % 1_000_000), itemID: String(next() % 100_000)))
            return (try? encoder.encode(event)) ?? ""
        default:
            return impression()
        }
    }
}
