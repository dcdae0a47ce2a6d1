import Testing
@testable import HSNNEvents

@Suite("EventEncoder")
struct EncoderTests {
    let encoder = EventEncoder()
    let decoder = testDecoder(DecoderLimits(maxFutureSkewMs: nil))

    @Test func compactLines() throws {
        let item = Event.item(ItemEvent(op: .upsert, itemID: "42", timestampMs: 1_700_000_000_000, features: Features([
            ("genre", .strings(["Action", "Comedy"])), ("year", .number(1995)), ("score", .number(0.1)),
        ])))
        #expect(try encoder.encode(item)
            == #"{"type":"item","op":"upsert","item_id":"42","ts_ms":1700000000000,"features":{"genre":["Action","Comedy"],"year":1995,"score":0.1}}"#)
        #expect(try encoder.encode(.item(ItemEvent(op: .delete, itemID: "42", timestampMs: 3, features: Features([("a", .string("b"))]))))
            == #"{"type":"item","op":"delete","item_id":"42","ts_ms":3}"#)
        #expect(try encoder.encode(.impression(ImpressionEvent(eventID: "e1", requestID: "r1", timestampMs: 5, userID: "7", itemID: "42",
                                                                userFeatures: Features([("age", .string("25-34"))]), clicked: true)))
            == #"{"type":"impression","event_id":"e1","request_id":"r1","ts_ms":5,"user_id":"7","item_id":"42","user_features":{"age":"25-34"},"clicked":true}"#)
        #expect(try encoder.encode(.impression(ImpressionEvent(eventID: "e1", requestID: "r1", timestampMs: 5, userID: "7", itemID: "42")))
            == #"{"type":"impression","event_id":"e1","request_id":"r1","ts_ms":5,"user_id":"7","item_id":"42"}"#)
        #expect(try encoder.encode(.click(ClickEvent(eventID: "e2", requestID: "r1", timestampMs: 6, userID: "7", itemID: "42")))
            == #"{"type":"click","event_id":"e2","request_id":"r1","ts_ms":6,"user_id":"7","item_id":"42"}"#)
        #expect(try encoder.encode(UserQuery(userID: "7", userFeatures: Features([("g", .string("F"))])))
            == #"{"user_id":"7","user_features":{"g":"F"}}"#)
    }

    @Test func numberFormatting() throws {
        let cases: [(Double, String)] = [
            (1995, "1995"), (-3, "-3"), (0, "0"), (-0.0, "0"), (0.5, "0.5"), (9_007_199_254_740_991, "9007199254740991"),
            (9_007_199_254_740_992, "9007199254740992.0"), (1e16, "1e+16"), (1e22, "1e+22"), (1e-7, "1e-07"), (123456.789, "123456.789"),
        ]
        for (value, text) in cases {
            let line = try encoder.encode(.item(ItemEvent(op: .upsert, itemID: "1", timestampMs: 0, features: Features([("x", .number(value))]))))
            #expect(line.contains(#""x":\#(text)}"#), "\(value) -> \(line)")
        }
    }

    @Test func stringEscaping() throws {
        let line = try encoder.encode(UserQuery(userID: "a\"b\\c\n\u{01}\u{1F}é😀/"))
        #expect(line == #"{"user_id":"a\"b\\c\n\u0001\u001fé😀/","user_features":{}}"#)
    }

    @Test func unrepresentableEventsThrow() {
        #expect(throws: EventEncodingError(code: .nonFiniteNumber, field: "features.x", message: "'features.x' is nan")) {
            try encoder.encode(.item(ItemEvent(op: .upsert, itemID: "1", timestampMs: 0, features: Features([("x", .number(.nan))]))))
        }
        #expect(throws: EventEncodingError.self) {
            try encoder.encode(.click(ClickEvent(eventID: "", requestID: "r", timestampMs: 0, userID: "u", itemID: "i")))
        }
        #expect(throws: EventEncodingError.self) {
            try encoder.encode(.click(ClickEvent(eventID: "e", requestID: "r", timestampMs: -1, userID: "u", itemID: "i")))
        }
    }

    @Test func roundTripsGeneratedEvents() throws {
        var generator = EventGenerator(seed: 42)
        var buffer: [UInt8] = []
        for _ in 0..<20_000 {
            let event = generator.event()
            buffer.removeAll(keepingCapacity: true)
            try encoder.encode(event, into: &buffer)
            #expect(!buffer.contains(0x0A), "an encoded event must be a single line")
            let decoded = try decoder.decode(buffer)
            #expect(decoded == event, "\(String(decoding: buffer, as: UTF8.self))")
            // Bit-exact numbers (== would accept -0.0 for 0.0).
            if case .item(let a) = event, case .item(let b) = decoded {
                for (x, y) in zip(a.features, b.features) {
                    if case .number(let u) = x.value, case .number(let v) = y.value, u != 0 { #expect(u.bitPattern == v.bitPattern) }
                }
            }
        }
    }

    @Test func roundTripsUserQueries() throws {
        var generator = EventGenerator(seed: 7)
        for _ in 0..<2_000 {
            let query = UserQuery(userID: generator.string(), userFeatures: generator.features())
            let line = try encoder.encode(query)
            #expect(try decoder.decodeUserQuery(line[...]) == query)
        }
    }
}
