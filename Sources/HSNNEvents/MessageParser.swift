// A single-pass JSON parser specialised for the hsnn event schema.
//
// It works on raw bytes (no Foundation), validates the full JSON grammar (skipping unknown
// keys still validates them, bounded by a nesting limit), and materialises Swift Strings only
// for the field values the schema keeps. Whole-message UTF-8 validity is checked before parsing
// (see UTF8Validation.swift), so the parser itself only deals with ASCII structure.

/// The schema fields the parser knows. `unknown` keys are skipped.
enum SchemaKey: UInt8 {
    case type, op, itemID, eventID, requestID, userID, timestampMs, features, userFeatures, clicked, unknown

    var jsonName: String {
        switch self {
        case .type: "type"
        case .op: "op"
        case .itemID: "item_id"
        case .eventID: "event_id"
        case .requestID: "request_id"
        case .userID: "user_id"
        case .timestampMs: "ts_ms"
        case .features: "features"
        case .userFeatures: "user_features"
        case .clicked: "clicked"
        case .unknown: "?"
        }
    }

    var bit: UInt16 { 1 &<< UInt16(rawValue) }

    var staticName: StaticString {
        switch self {
        case .type: "type"
        case .op: "op"
        case .itemID: "item_id"
        case .eventID: "event_id"
        case .requestID: "request_id"
        case .userID: "user_id"
        case .timestampMs: "ts_ms"
        case .features: "features"
        case .userFeatures: "user_features"
        case .clicked: "clicked"
        case .unknown: "?"
        }
    }
}

/// The kind of event named by `type`.
enum EventKind {
    case item, impression, click
}

/// What the top-level object is decoded as.
enum MessageMode {
    /// An event: every schema key is known.
    case event
    /// A user query line: only `user_id` and `user_features` are known, the rest is skipped.
    case userQuery
}

/// The schema fields found in one message, before they are assembled into an event.
struct ParsedFields {
    var kind: EventKind?
    var op: ItemEvent.Operation?
    var itemID: String?
    var eventID: String?
    var requestID: String?
    var userID: String?
    var timestampMs: Int64?
    var features: Features?
    var userFeatures: Features?
    var clicked: Bool?
    var seen: UInt16 = 0

    func has(_ key: SchemaKey) -> Bool { seen & key.bit != 0 }
}

/// A scanned JSON string: the raw bytes between the quotes.
struct StringToken {
    var start: Int
    var end: Int
    var hasEscapes: Bool
    var rawCount: Int { end - start }
}

/// A scanned JSON number: its bytes and shape.
struct NumberToken {
    var start: Int
    var end: Int
    var isNegative: Bool
    var isInteger: Bool
}

@inline(__always) private func isDigit(_ b: UInt8) -> Bool { b &- UInt8(ascii: "0") < 10 }

struct MessageParser {
    let base: UnsafePointer<UInt8>
    let count: Int
    let limits: DecoderLimits
    let maxDepth: Int
    var pos: Int = 0

    init(base: UnsafePointer<UInt8>, count: Int, limits: DecoderLimits) {
        self.base = base
        self.count = count
        self.limits = limits
        self.maxDepth = limits.effectiveNestingDepth
    }

    // MARK: Low-level helpers

    /// The byte at the cursor, or 0 at the end (NUL never starts or continues valid JSON).
    @inline(__always) func peek() -> UInt8 { pos < count ? base[pos] : 0 }

    @inline(__always) mutating func skipWhitespace() {
        while pos < count {
            let b = base[pos]
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { pos += 1 } else { return }
        }
    }

    /// Builds a failure out of line, so the hot paths stay small; `message` runs only here.
    @inline(never)
    func fail(_ reason: DecodeFailure.Reason, field: String?, at offset: Int?, _ message: () -> String) -> DecodeFailure {
        DecodeFailure(reason: reason, field: field, message: message(), byteOffset: offset)
    }

    @inline(never)
    func syntaxError(_ expected: String) -> DecodeFailure {
        if pos >= count {
            return DecodeFailure(reason: .notJSON, message: "truncated JSON: input ended where \(expected) was expected",
                                 byteOffset: pos)
        }
        return DecodeFailure(reason: .notJSON, message: "invalid JSON: found \(describeByte(base[pos])) where \(expected) was expected",
                             byteOffset: pos)
    }

    @inline(__always) mutating func expect(_ byte: UInt8, _ what: String) throws(DecodeFailure) {
        guard peek() == byte else { throw syntaxError(what) }
        pos += 1
    }

    /// Whether the bytes at the cursor spell `literal`; advances past it if so.
    @inline(__always) mutating func consumeLiteral(_ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard count - pos >= n else { return false }
        let p = literal.utf8Start
        for i in 0..<n where base[pos + i] != p[i] { return false }
        pos += n
        return true
    }

    /// Matches the bytes of a token against an ASCII name.
    @inline(__always) func bytesEqual(_ start: Int, _ length: Int, _ name: StaticString) -> Bool {
        guard length == name.utf8CodeUnitCount else { return false }
        let p = name.utf8Start
        for i in 0..<length where base[start + i] != p[i] { return false }
        return true
    }

    // MARK: Strings

    /// Scans a string at the cursor (which must be at `"`), validating escapes.
    ///
    /// The common case, a plain string closed within the message, is handled inline; escapes,
    /// control characters and strings near the end of the message take the general path.
    @inline(__always)
    mutating func scanString() throws(DecodeFailure) -> StringToken {
        let start = pos + 1
        var p = start
        while p + 8 <= count {
            let flags = specialByteFlags(UnsafeRawPointer(base + p).loadUnaligned(as: UInt64.self))
            if flags != 0 {
                p += flags.trailingZeroBitCount >> 3
                if base[p] == UInt8(ascii: "\"") {
                    pos = p + 1
                    return StringToken(start: start, end: p, hasEscapes: false)
                }
                break
            }
            p += 8
        }
        return try scanStringGeneral(start: start, from: p)
    }

    /// Flags (bit 7 of each byte) the bytes of `word` that are '"', '\\' or control characters.
    /// Only the lowest flagged byte is exact, which is all the scanners use.
    @inline(__always) func specialByteFlags(_ word: UInt64) -> UInt64 {
        let quote = word ^ 0x2222_2222_2222_2222
        let backslash = word ^ 0x5C5C_5C5C_5C5C_5C5C
        return ((quote &- 0x0101_0101_0101_0101) & ~quote
            | (backslash &- 0x0101_0101_0101_0101) & ~backslash
            | (word &- 0x2020_2020_2020_2020) & ~word) & 0x8080_8080_8080_8080
    }

    /// The general string scanner, resuming at `from` (no special byte lies in `start..<from`).
    @inline(never)
    mutating func scanStringGeneral(start: Int, from: Int) throws(DecodeFailure) -> StringToken {
        pos = from
        var hasEscapes = false
        while true {
            // Fast scan over plain bytes, eight at a time: stop at the first '"', '\\' or
            // control character (the lowest flagged byte of the SWAR tests is always exact).
            while pos + 8 <= count {
                let flags = specialByteFlags(UnsafeRawPointer(base + pos).loadUnaligned(as: UInt64.self))
                if flags != 0 {
                    pos += flags.trailingZeroBitCount >> 3
                    break
                }
                pos += 8
            }
            while pos < count {
                let b = base[pos]
                if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") || b < 0x20 { break }
                pos += 1
            }
            guard pos < count else { throw syntaxError("a closing '\"'") }
            let b = base[pos]
            if b == UInt8(ascii: "\"") { break }
            if b < 0x20 {
                throw fail(.notJSON, field: nil, at: pos) { "invalid JSON: unescaped control character \(describeByte(b)) in a string" }
            }
            // Backslash escape.
            hasEscapes = true
            pos += 1
            switch peek() {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                pos += 1
            case UInt8(ascii: "u"):
                let escapeStart = pos - 1
                pos += 1
                let unit = try scanHex4()
                if unit >= 0xD800 && unit <= 0xDBFF {
                    guard count - pos >= 6, base[pos] == UInt8(ascii: "\\"), base[pos + 1] == UInt8(ascii: "u") else {
                        throw unpairedSurrogate(at: escapeStart)
                    }
                    pos += 2
                    let low = try scanHex4()
                    guard low >= 0xDC00 && low <= 0xDFFF else { throw unpairedSurrogate(at: escapeStart) }
                } else if unit >= 0xDC00 && unit <= 0xDFFF {
                    throw unpairedSurrogate(at: escapeStart)
                }
            default:
                throw syntaxError("an escape character (one of \"\\/bfnrtu)")
            }
        }
        let end = pos
        pos += 1
        return StringToken(start: start, end: end, hasEscapes: hasEscapes)
    }

    @inline(never)
    private func unpairedSurrogate(at offset: Int) -> DecodeFailure {
        DecodeFailure(reason: .invalidUTF8, message: "a \\u escape encodes an unpaired UTF-16 surrogate", byteOffset: offset)
    }

    private mutating func scanHex4() throws(DecodeFailure) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard let digit = hexValue(peek()) else { throw syntaxError("four hexadecimal digits after \\u") }
            value = value << 4 | digit
            pos += 1
        }
        return value
    }

    /// Builds the String for a scanned token, enforcing the string length limit.
    @inline(__always)
    func makeString(_ token: StringToken, field: @autoclosure () -> String) throws(DecodeFailure) -> String {
        if !token.hasEscapes {
            guard token.rawCount <= limits.maxStringBytes else {
                throw stringTooLong(token.rawCount, field: field(), at: token.start)
            }
            return String(decoding: UnsafeBufferPointer(start: base + token.start, count: token.rawCount), as: UTF8.self)
        }
        let string = unescape(token)
        guard string.utf8.count <= limits.maxStringBytes else {
            throw stringTooLong(string.utf8.count, field: field(), at: token.start)
        }
        return string
    }

    @inline(never)
    private func stringTooLong(_ length: Int, field: String, at offset: Int) -> DecodeFailure {
        DecodeFailure(reason: .stringTooLong, field: field,
                      message: "'\(field)': a string of \(length) bytes exceeds the limit of \(limits.maxStringBytes) bytes",
                      byteOffset: offset)
    }

    /// Decodes the escapes of an already validated token. Unescaped text never grows, so the raw
    /// length bounds the output.
    func unescape(_ token: StringToken) -> String {
        let base = self.base
        return String(unsafeUninitializedCapacity: token.rawCount) { out in
            var i = token.start
            var o = 0
            while i < token.end {
                let b = base[i]
                if b != UInt8(ascii: "\\") {
                    out[o] = b; o += 1; i += 1
                    continue
                }
                let e = base[i + 1]
                i += 2
                switch e {
                case UInt8(ascii: "b"): out[o] = 0x08; o += 1
                case UInt8(ascii: "f"): out[o] = 0x0C; o += 1
                case UInt8(ascii: "n"): out[o] = 0x0A; o += 1
                case UInt8(ascii: "r"): out[o] = 0x0D; o += 1
                case UInt8(ascii: "t"): out[o] = 0x09; o += 1
                case UInt8(ascii: "u"):
                    var scalar = hex4(base + i)
                    i += 4
                    if scalar >= 0xD800 && scalar <= 0xDBFF {
                        let low = hex4(base + i + 2)
                        i += 6
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    o += encodeUTF8(scalar, into: out.baseAddress! + o)
                default: out[o] = e; o += 1  // \" \\ \/
                }
            }
            return o
        }
    }

    // MARK: Numbers

    /// Scans a number at the cursor following the JSON grammar; `NaN`/`Infinity` are reported
    /// as non-finite numbers for `field`.
    mutating func scanNumber(field: @autoclosure () -> String?) throws(DecodeFailure) -> NumberToken {
        let start = pos
        var negative = false
        if peek() == UInt8(ascii: "-") {
            negative = true
            pos += 1
        }
        let first = peek()
        if !isDigit(first) {
            if first == UInt8(ascii: "I") && consumeLiteral("Infinity") {
                throw nonFiniteLiteral(field: field(), at: start)
            }
            throw syntaxError("a digit")
        }
        if first == UInt8(ascii: "0") {
            pos += 1
        } else {
            while isDigit(peek()) { pos += 1 }
        }
        var isInteger = true
        if peek() == UInt8(ascii: ".") {
            isInteger = false
            pos += 1
            guard isDigit(peek()) else { throw syntaxError("a digit after the decimal point") }
            while isDigit(peek()) { pos += 1 }
        }
        let e = peek()
        if e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            isInteger = false
            pos += 1
            let sign = peek()
            if sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { pos += 1 }
            guard isDigit(peek()) else { throw syntaxError("a digit in the exponent") }
            while isDigit(peek()) { pos += 1 }
        }
        return NumberToken(start: start, end: pos, isNegative: negative, isInteger: isInteger)
    }

    @inline(never)
    func nonFiniteLiteral(field: String?, at offset: Int) -> DecodeFailure {
        DecodeFailure(reason: .nonFiniteNumber, field: field,
                      message: "\(field.map { "'\($0)': " } ?? "")NaN and Infinity are not valid JSON numbers",
                      byteOffset: offset)
    }

    /// The Double value of a scanned number (possibly infinite when it overflows).
    func doubleValue(_ token: NumberToken) -> Double {
        parseJSONDouble(base + token.start, count: token.end - token.start)
    }

    // MARK: Skipping and type errors

    /// Skips any JSON value, validating it. `depth` is the nesting depth of the value's container.
    mutating func skipValue(depth: Int) throws(DecodeFailure) {
        switch peek() {
        case UInt8(ascii: "\""):
            _ = try scanString()
        case UInt8(ascii: "{"):
            guard depth < maxDepth else { throw tooDeep() }
            pos += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "}") { pos += 1; return }
            while true {
                guard peek() == UInt8(ascii: "\"") else { throw syntaxError("an object key") }
                _ = try scanString()
                skipWhitespace()
                try expect(UInt8(ascii: ":"), "':' after an object key")
                skipWhitespace()
                try skipValue(depth: depth + 1)
                skipWhitespace()
                let b = peek()
                if b == UInt8(ascii: ",") { pos += 1; skipWhitespace(); continue }
                if b == UInt8(ascii: "}") { pos += 1; return }
                throw syntaxError("',' or '}'")
            }
        case UInt8(ascii: "["):
            guard depth < maxDepth else { throw tooDeep() }
            pos += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "]") { pos += 1; return }
            while true {
                try skipValue(depth: depth + 1)
                skipWhitespace()
                let b = peek()
                if b == UInt8(ascii: ",") { pos += 1; skipWhitespace(); continue }
                if b == UInt8(ascii: "]") { pos += 1; return }
                throw syntaxError("',' or ']'")
            }
        case UInt8(ascii: "t"):
            guard consumeLiteral("true") else { throw syntaxError("a JSON value") }
        case UInt8(ascii: "f"):
            guard consumeLiteral("false") else { throw syntaxError("a JSON value") }
        case UInt8(ascii: "n"):
            guard consumeLiteral("null") else { throw syntaxError("a JSON value") }
        case UInt8(ascii: "N"):
            let start = pos
            guard consumeLiteral("NaN") else { throw syntaxError("a JSON value") }
            throw nonFiniteLiteral(field: nil, at: start)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "I"):
            _ = try scanNumber(field: nil)
        default:
            throw syntaxError("a JSON value")
        }
    }

    @inline(never)
    private func tooDeep() -> DecodeFailure {
        DecodeFailure(reason: .tooDeep, message: "arrays/objects nest deeper than the limit of \(maxDepth) levels",
                      byteOffset: pos)
    }

    /// The error for a value of the wrong kind at the cursor: non-finite literals and syntax
    /// errors are reported as such, any other JSON value as `wrong_type` naming what was found.
    @inline(never)
    func unexpectedValue(field: String, expected: String) -> DecodeFailure {
        var probe = self
        let found: String
        switch peek() {
        case UInt8(ascii: "\""): found = "a string"
        case UInt8(ascii: "{"): found = "an object"
        case UInt8(ascii: "["): found = "an array"
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            guard probe.consumeLiteral("true") || probe.consumeLiteral("false") else { return syntaxError("a JSON value") }
            found = "a boolean"
        case UInt8(ascii: "n"):
            guard probe.consumeLiteral("null") else { return syntaxError("a JSON value") }
            found = "null"
        case UInt8(ascii: "N"):
            guard probe.consumeLiteral("NaN") else { return syntaxError("a JSON value") }
            return nonFiniteLiteral(field: field, at: pos)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "I"):
            do {
                let token = try probe.scanNumber(field: field)
                found = token.isInteger ? "an integer" : "a number"
            } catch {
                return error
            }
        default:
            return syntaxError("a JSON value")
        }
        return DecodeFailure(reason: .wrongType, field: field, message: "'\(field)' must be \(expected), found \(found)",
                             byteOffset: pos)
    }

    // MARK: The message

    /// Parses the whole message as one JSON object holding schema fields.
    mutating func parseMessage(mode: MessageMode) throws(DecodeFailure) -> ParsedFields {
        skipWhitespace()
        guard pos < count else {
            throw DecodeFailure(reason: .empty, message: "the message is empty or only whitespace")
        }
        guard peek() == UInt8(ascii: "{") else { throw try notAnObject() }
        pos += 1
        var fields = ParsedFields()
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            pos += 1
        } else {
            while true {
                guard peek() == UInt8(ascii: "\"") else { throw syntaxError("an object key") }
                let keyToken = try scanString()
                var key = schemaKey(keyToken)
                if mode == .userQuery && key != .userID && key != .userFeatures { key = .unknown }
                skipWhitespace()
                try expect(UInt8(ascii: ":"), "':' after an object key")
                skipWhitespace()
                if key == .unknown {
                    try skipValue(depth: 1)
                } else {
                    if fields.seen & key.bit != 0 {
                        throw fail(.duplicateField, field: key.jsonName, at: keyToken.start - 1) { "'\(key.jsonName)' appears more than once" }
                    }
                    fields.seen |= key.bit
                    try parseField(key, into: &fields)
                }
                skipWhitespace()
                let b = peek()
                if b == UInt8(ascii: ",") { pos += 1; skipWhitespace(); continue }
                if b == UInt8(ascii: "}") { pos += 1; break }
                throw syntaxError("',' or '}'")
            }
        }
        skipWhitespace()
        guard pos == count else {
            throw fail(.notJSON, field: nil, at: pos) { "invalid JSON: unexpected data after the top-level object" }
        }
        return fields
    }

    /// The failure for a message whose top-level value is not an object.
    @inline(never)
    private mutating func notAnObject() throws(DecodeFailure) -> DecodeFailure {
        let kind: String
        switch peek() {
        case UInt8(ascii: "["): kind = "an array"
        case UInt8(ascii: "\""): kind = "a string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): kind = "a boolean"
        case UInt8(ascii: "n"): kind = "null"
        default: kind = "a number"
        }
        try skipValue(depth: 0)
        skipWhitespace()
        guard pos == count else {
            return DecodeFailure(reason: .notJSON, message: "invalid JSON: unexpected data after the top-level value",
                                 byteOffset: pos)
        }
        return DecodeFailure(reason: .notObject, message: "the message is \(kind), expected a JSON object", byteOffset: 0)
    }

    private func schemaKey(_ token: StringToken) -> SchemaKey {
        if token.hasEscapes { return schemaKey(named: unescape(token)) }
        let s = token.start
        let n = token.rawCount
        guard n >= 2 else { return .unknown }
        // Length and first byte single out the one candidate; then compare all bytes.
        let candidate: SchemaKey
        switch (n, base[s]) {
        case (2, UInt8(ascii: "o")): candidate = .op
        case (4, UInt8(ascii: "t")): candidate = .type
        case (5, UInt8(ascii: "t")): candidate = .timestampMs
        case (7, UInt8(ascii: "i")): candidate = .itemID
        case (7, UInt8(ascii: "u")): candidate = .userID
        case (7, UInt8(ascii: "c")): candidate = .clicked
        case (8, UInt8(ascii: "e")): candidate = .eventID
        case (8, UInt8(ascii: "f")): candidate = .features
        case (10, UInt8(ascii: "r")): candidate = .requestID
        case (13, UInt8(ascii: "u")): candidate = .userFeatures
        default: return .unknown
        }
        return bytesEqual(s, n, candidate.staticName) ? candidate : .unknown
    }

    private func schemaKey(named name: String) -> SchemaKey {
        switch name {
        case "type": .type
        case "op": .op
        case "item_id": .itemID
        case "event_id": .eventID
        case "request_id": .requestID
        case "user_id": .userID
        case "ts_ms": .timestampMs
        case "features": .features
        case "user_features": .userFeatures
        case "clicked": .clicked
        default: .unknown
        }
    }

    private mutating func parseField(_ key: SchemaKey, into fields: inout ParsedFields) throws(DecodeFailure) {
        switch key {
        case .type:
            fields.kind = try parseKind()
        case .op:
            fields.op = try parseOperation()
        case .itemID:
            fields.itemID = try parseID(key)
        case .eventID:
            fields.eventID = try parseID(key)
        case .requestID:
            fields.requestID = try parseID(key, nullable: true)
        case .userID:
            fields.userID = try parseID(key)
        case .timestampMs:
            fields.timestampMs = try parseTimestamp()
        case .features:
            fields.features = try parseFeaturesField(key)
        case .userFeatures:
            fields.userFeatures = try parseFeaturesField(key)
        case .clicked:
            fields.clicked = try parseClicked()
        case .unknown:
            try skipValue(depth: 1)
        }
    }

    private mutating func parseKind() throws(DecodeFailure) -> EventKind {
        guard peek() == UInt8(ascii: "\"") else { throw unexpectedValue(field: "type", expected: "a string") }
        let token = try scanString()
        if !token.hasEscapes {
            if bytesEqual(token.start, token.rawCount, "impression") { return .impression }
            if bytesEqual(token.start, token.rawCount, "click") { return .click }
            if bytesEqual(token.start, token.rawCount, "item") { return .item }
        } else {
            switch unescape(token) {
            case "impression": return .impression
            case "click": return .click
            case "item": return .item
            default: break
            }
        }
        throw fail(.unknownType, field: "type", at: token.start - 1) { "'type' is \(quotedExcerpt(token)); expected \"item\", \"impression\" or \"click\"" }
    }

    private mutating func parseOperation() throws(DecodeFailure) -> ItemEvent.Operation {
        guard peek() == UInt8(ascii: "\"") else { throw unexpectedValue(field: "op", expected: "a string") }
        let token = try scanString()
        if !token.hasEscapes {
            if bytesEqual(token.start, token.rawCount, "upsert") { return .upsert }
            if bytesEqual(token.start, token.rawCount, "delete") { return .delete }
        } else if let op = ItemEvent.Operation(rawValue: unescape(token)) {
            return op
        }
        throw fail(.unknownOperation, field: "op", at: token.start - 1) { "'op' is \(quotedExcerpt(token)); expected \"upsert\" or \"delete\"" }
    }

    /// A short, printable rendering of a string token for messages.
    private func quotedExcerpt(_ token: StringToken) -> String {
        let text = unescape(token)
        let excerpt = text.count > 40 ? String(text.prefix(40)) + "..." : text
        return "\"" + excerpt.unicodeScalars.map { $0.value < 0x20 ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined() + "\""
    }

    /// An identifier: a non-empty string, or a plain integer carried as its decimal text.
    /// With `nullable`, `null` means absent.
    private mutating func parseID(_ key: SchemaKey, nullable: Bool = false) throws(DecodeFailure) -> String? {
        let b = peek()
        if b == UInt8(ascii: "\"") {
            let token = try scanString()
            guard token.rawCount > 0 else {
                throw fail(.invalidID, field: key.jsonName, at: token.start - 1) { "'\(key.jsonName)' is an empty string; identifiers must not be empty" }
            }
            return try makeString(token, field: key.jsonName)
        }
        if b == UInt8(ascii: "-") || isDigit(b) {
            let token = try scanNumber(field: key.jsonName)
            guard token.isInteger else {
                throw fail(.wrongType, field: key.jsonName, at: token.start) { "'\(key.jsonName)' must be a string or a plain integer, found a number with a fraction or exponent" }
            }
            let length = token.end - token.start
            guard length <= limits.maxStringBytes else {
                throw stringTooLong(length, field: key.jsonName, at: token.start)
            }
            return String(decoding: UnsafeBufferPointer(start: base + token.start, count: length), as: UTF8.self)
        }
        if nullable && b == UInt8(ascii: "n") && consumeLiteral("null") { return nil }
        throw unexpectedValue(field: key.jsonName, expected: "a string or an integer")
    }

    private mutating func parseTimestamp() throws(DecodeFailure) -> Int64 {
        let b = peek()
        guard b == UInt8(ascii: "-") || isDigit(b) else {
            throw unexpectedValue(field: "ts_ms", expected: "an integer (milliseconds since the Unix epoch)")
        }
        let token = try scanNumber(field: "ts_ms")
        let base = self.base
        let text = { String(decoding: UnsafeBufferPointer(start: base + token.start, count: token.end - token.start), as: UTF8.self) }
        guard token.isInteger else {
            throw fail(.invalidTimestamp, field: "ts_ms", at: token.start) { "'ts_ms' must be a plain non-negative integer of milliseconds, found \(text())" }
        }
        var value: Int64 = 0
        var i = token.isNegative ? token.start + 1 : token.start
        while i < token.end {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(base[i] &- UInt8(ascii: "0")))
            guard !o1 && !o2 else {
                throw fail(.invalidTimestamp, field: "ts_ms", at: token.start) { "'ts_ms' \(text()) does not fit in 64 bits" }
            }
            value = a
            i += 1
        }
        if token.isNegative && value != 0 {
            throw fail(.invalidTimestamp, field: "ts_ms", at: token.start) { "'ts_ms' must not be negative, found \(text())" }
        }
        return value
    }

    private mutating func parseClicked() throws(DecodeFailure) -> Bool? {
        if consumeLiteral("true") { return true }
        if consumeLiteral("false") { return false }
        if consumeLiteral("null") { return nil }
        throw unexpectedValue(field: "clicked", expected: "a boolean")
    }

    /// A features object; `null` means no features.
    private mutating func parseFeaturesField(_ key: SchemaKey) throws(DecodeFailure) -> Features? {
        if peek() == UInt8(ascii: "{") { return try parseFeatures(key.jsonName) }
        if consumeLiteral("null") { return nil }
        throw unexpectedValue(field: key.jsonName, expected: "an object of features")
    }

    /// `{"name": "v" | ["v", ...] | 1.5 | null, ...}`; `null` values are dropped.
    private mutating func parseFeatures(_ field: String) throws(DecodeFailure) -> Features {
        pos += 1  // '{'
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            pos += 1
            return Features()
        }
        var entries: [(name: String, value: FeatureValue)] = []
        entries.reserveCapacity(4)
        while true {
            guard peek() == UInt8(ascii: "\"") else { throw syntaxError("a feature name") }
            let nameToken = try scanString()
            let name = try makeString(nameToken, field: field)
            skipWhitespace()
            try expect(UInt8(ascii: ":"), "':' after a feature name")
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: "\""):
                let value = try makeString(try scanString(), field: field + "." + name)
                entries.append((name, .string(value)))
            case UInt8(ascii: "["):
                entries.append((name, .strings(try parseStringList(field, name))))
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "I"):
                let token = try scanNumber(field: field + "." + name)
                let value = doubleValue(token)
                guard value.isFinite else {
                    throw fail(.nonFiniteNumber, field: field + "." + name, at: token.start) { "'\(field).\(name)' overflows a 64-bit floating-point number" }
                }
                entries.append((name, .number(value)))
            case UInt8(ascii: "n") where consumeLiteral("null"):
                break
            default:
                throw unexpectedValue(field: field + "." + name, expected: "a string, a list of strings or a number")
            }
            if entries.count > limits.maxFeatures {
                throw fail(.tooManyFeatures, field: field, at: nameToken.start - 1) { "'\(field)' has more than \(limits.maxFeatures) features" }
            }
            skipWhitespace()
            let b = peek()
            if b == UInt8(ascii: ",") { pos += 1; skipWhitespace(); continue }
            if b == UInt8(ascii: "}") { pos += 1; break }
            throw syntaxError("',' or '}'")
        }
        return Features(entries)
    }

    private mutating func parseStringList(_ parent: String, _ name: String) throws(DecodeFailure) -> [String] {
        var field: String { parent + "." + name }
        pos += 1  // '['
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            pos += 1
            return []
        }
        var values: [String] = []
        values.reserveCapacity(4)
        while true {
            guard peek() == UInt8(ascii: "\"") else { throw unexpectedValue(field: field, expected: "a list of strings") }
            values.append(try makeString(try scanString(), field: field))
            if values.count > limits.maxValuesPerList {
                throw fail(.tooManyValues, field: field, at: pos) { "'\(field)' has more than \(limits.maxValuesPerList) values" }
            }
            skipWhitespace()
            let b = peek()
            if b == UInt8(ascii: ",") { pos += 1; skipWhitespace(); continue }
            if b == UInt8(ascii: "]") { pos += 1; break }
            throw syntaxError("',' or ']'")
        }
        return values
    }
}

// MARK: Small byte helpers

@inline(__always) func hexValue(_ b: UInt8) -> UInt32? {
    switch b {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(b &- UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(b &- UInt8(ascii: "a") &+ 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(b &- UInt8(ascii: "A") &+ 10)
    default: nil
    }
}

/// Four already validated hex digits.
@inline(__always) private func hex4(_ p: UnsafePointer<UInt8>) -> UInt32 {
    hexValue(p[0])! << 12 | hexValue(p[1])! << 8 | hexValue(p[2])! << 4 | hexValue(p[3])!
}

/// Writes a Unicode scalar as UTF-8; returns the number of bytes written (1...4).
@inline(__always) private func encodeUTF8(_ scalar: UInt32, into out: UnsafeMutablePointer<UInt8>) -> Int {
    switch scalar {
    case 0..<0x80:
        out[0] = UInt8(scalar)
        return 1
    case 0x80..<0x800:
        out[0] = UInt8(0xC0 | scalar >> 6)
        out[1] = UInt8(0x80 | scalar & 0x3F)
        return 2
    case 0x800..<0x10000:
        out[0] = UInt8(0xE0 | scalar >> 12)
        out[1] = UInt8(0x80 | scalar >> 6 & 0x3F)
        out[2] = UInt8(0x80 | scalar & 0x3F)
        return 3
    default:
        out[0] = UInt8(0xF0 | scalar >> 18)
        out[1] = UInt8(0x80 | scalar >> 12 & 0x3F)
        out[2] = UInt8(0x80 | scalar >> 6 & 0x3F)
        out[3] = UInt8(0x80 | scalar & 0x3F)
        return 4
    }
}

/// A byte as it should appear in an error message.
func describeByte(_ b: UInt8) -> String {
    if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
    return "byte 0x" + (b < 0x10 ? "0" : "") + String(b, radix: 16, uppercase: true)
}
