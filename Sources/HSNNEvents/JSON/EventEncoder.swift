/// Why an event cannot be written as a message the ``EventDecoder`` would accept.
public struct EventEncodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// A feature number is NaN or infinite (JSON has no such numbers).
        case nonFiniteNumber = "non_finite_number"
        /// An identifier is the empty string.
        case emptyIdentifier = "empty_identifier"
        /// `ts_ms` is negative.
        case negativeTimestamp = "negative_timestamp"
    }

    public var code: Code
    /// The JSON field concerned (`user_features.age`, `item_id`, ...).
    public var field: String
    public var message: String

    public var description: String { "cannot encode event: \(message); fix the code that built the event" }
}

/// Writes ``Event``s and ``UserQuery``s as compact single-line JSON (no trailing newline).
///
/// The output always decodes back to an equal value with ``EventDecoder``: identifiers are
/// written as JSON strings, `ts_ms` as an integer, integral feature numbers below 2^53 without
/// fraction or exponent, other numbers in their shortest round-tripping form; strings escape
/// `"`, `\` and control characters and keep other Unicode as UTF-8. A delete writes no features
/// (the decoder drops them); empty `user_features` are omitted; `clicked` is written only when set.
public struct EventEncoder: Sendable {
    public init() {}

    /// The JSON line for `event`.
    /// - Throws: ``EventEncodingError`` when the event cannot be represented (non-finite number,
    ///   empty identifier, negative timestamp).
    public func encode(_ event: Event) throws(EventEncodingError) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(256)
        try encode(event, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the JSON for `event` to `buffer` (for Kafka payloads and file writers).
    /// - Throws: ``EventEncodingError``; `buffer` may then hold a partial message.
    public func encode(_ event: Event, into buffer: inout [UInt8]) throws(EventEncodingError) {
        var w = JSONWriter(buffer: buffer)
        buffer = []
        defer { buffer = w.buffer }
        switch event {
        case .item(let item):
            w.raw("{\"type\":\"item\",\"op\":\"")
            w.raw(item.op == .upsert ? "upsert" : "delete")
            w.raw("\",\"item_id\":")
            try w.identifier(item.itemID, field: "item_id")
            w.raw(",\"ts_ms\":")
            try w.timestamp(item.timestampMs)
            if item.op == .upsert {
                w.raw(",\"features\":")
                try w.features(item.features, field: "features")
            }
        case .impression(let impression):
            w.raw("{\"type\":\"impression\"")
            try w.interaction(eventID: impression.eventID, requestID: impression.requestID, timestampMs: impression.timestampMs,
                              userID: impression.userID, itemID: impression.itemID)
            if !impression.userFeatures.isEmpty {
                w.raw(",\"user_features\":")
                try w.features(impression.userFeatures, field: "user_features")
            }
            if let clicked = impression.clicked {
                w.raw(clicked ? ",\"clicked\":true" : ",\"clicked\":false")
            }
        case .click(let click):
            w.raw("{\"type\":\"click\"")
            try w.interaction(eventID: click.eventID, requestID: click.requestID, timestampMs: click.timestampMs,
                              userID: click.userID, itemID: click.itemID)
        }
        w.byte(UInt8(ascii: "}"))
    }

    /// The JSON line `{"user_id":...,"user_features":{...}}` for `query`.
    /// - Throws: ``EventEncodingError`` for an empty user id or a non-finite feature number.
    public func encode(_ query: UserQuery) throws(EventEncodingError) -> String {
        var bytes: [UInt8] = []
        try encode(query, into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends the JSON for `query` to `buffer`.
    /// - Throws: ``EventEncodingError``; `buffer` may then hold a partial message.
    public func encode(_ query: UserQuery, into buffer: inout [UInt8]) throws(EventEncodingError) {
        var w = JSONWriter(buffer: buffer)
        buffer = []
        defer { buffer = w.buffer }
        w.raw("{\"user_id\":")
        try w.identifier(query.userID, field: "user_id")
        w.raw(",\"user_features\":")
        try w.features(query.userFeatures, field: "user_features")
        w.byte(UInt8(ascii: "}"))
    }
}

/// Appends JSON tokens to a byte array.
struct JSONWriter {
    var buffer: [UInt8]

    @inline(__always) mutating func byte(_ b: UInt8) { buffer.append(b) }

    @inline(__always) mutating func raw(_ text: StaticString) {
        buffer.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func identifier(_ id: String, field: String) throws(EventEncodingError) {
        guard !id.isEmpty else {
            throw EventEncodingError(code: .emptyIdentifier, field: field, message: "'\(field)' is empty")
        }
        string(id)
    }

    /// The fields impressions and clicks share, after their `type`: `event_id`, `request_id`,
    /// `ts_ms`, `user_id`, `item_id`.
    mutating func interaction(eventID: String, requestID: String, timestampMs: Int64, userID: String, itemID: String)
        throws(EventEncodingError) {
        raw(",\"event_id\":")
        try identifier(eventID, field: "event_id")
        raw(",\"request_id\":")
        try identifier(requestID, field: "request_id")
        raw(",\"ts_ms\":")
        try timestamp(timestampMs)
        raw(",\"user_id\":")
        try identifier(userID, field: "user_id")
        raw(",\"item_id\":")
        try identifier(itemID, field: "item_id")
    }

    mutating func timestamp(_ ts: Int64) throws(EventEncodingError) {
        guard ts >= 0 else {
            throw EventEncodingError(code: .negativeTimestamp, field: "ts_ms", message: "'ts_ms' is negative (\(ts))")
        }
        integer(ts)
    }

    mutating func integer(_ value: Int64) {
        if value < 0 { byte(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch, enough for 20 digits
        withUnsafeMutableBytes(of: &digits) { scratch in
            var n = 0
            repeat {
                scratch[23 - n] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                n += 1
            } while magnitude != 0
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[(24 - n)...]))
        }
    }

    mutating func number(_ value: Double, field: String) throws(EventEncodingError) {
        guard value.isFinite else {
            throw EventEncodingError(code: .nonFiniteNumber, field: field, message: "'\(field)' is \(value)")
        }
        if value == value.rounded(.towardZero) && value.magnitude < 9_007_199_254_740_992 {
            integer(Int64(value))
        } else {
            // Swift prints the shortest digits that round-trip, in a form JSON accepts
            // (`0.1`, `1e-07`, `1e+22`).
            buffer.append(contentsOf: value.description.utf8)
        }
    }

    mutating func string(_ s: String) {
        byte(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var runStart = 0
            for i in 0..<utf8.count {
                let b = utf8[i]
                guard b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || b < 0x20 else { continue }
                buffer.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
                runStart = i + 1
                byte(UInt8(ascii: "\\"))
                switch b {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): byte(b)
                case 0x0A: byte(UInt8(ascii: "n"))
                case 0x0D: byte(UInt8(ascii: "r"))
                case 0x09: byte(UInt8(ascii: "t"))
                case 0x08: byte(UInt8(ascii: "b"))
                case 0x0C: byte(UInt8(ascii: "f"))
                default:
                    raw("u00")
                    let hex: StaticString = "0123456789abcdef"
                    byte(hex.utf8Start[Int(b >> 4)])
                    byte(hex.utf8Start[Int(b & 0xF)])
                }
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        byte(UInt8(ascii: "\""))
    }

    mutating func features(_ features: Features, field: String) throws(EventEncodingError) {
        byte(UInt8(ascii: "{"))
        var first = true
        for (name, value) in features {
            if !first { byte(UInt8(ascii: ",")) }
            first = false
            string(name)
            byte(UInt8(ascii: ":"))
            switch value {
            case .string(let s):
                string(s)
            case .strings(let list):
                byte(UInt8(ascii: "["))
                for (i, s) in list.enumerated() {
                    if i > 0 { byte(UInt8(ascii: ",")) }
                    string(s)
                }
                byte(UInt8(ascii: "]"))
            case .number(let x):
                try number(x, field: field + "." + name)
            }
        }
        byte(UInt8(ascii: "}"))
    }
}
