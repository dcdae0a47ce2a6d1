// The scanning half of a single-pass JSON parser specialised for the hsnn event schema
// (the schema half is EventSchemaMapping.swift).
//
// It works on raw bytes (no Foundation), validates the full JSON grammar (skipping unknown
// keys still validates them, bounded by a nesting limit), and materialises Swift Strings only
// for the field values the schema keeps. Whole-message UTF-8 validity is checked before parsing
// (see UTF8Validation.swift), so the parser itself only deals with ASCII structure.

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

@inline(__always) func isDigit(_ b: UInt8) -> Bool { b &- UInt8(ascii: "0") < 10 }

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
    func stringTooLong(_ length: Int, field: String, at offset: Int) -> DecodeFailure {
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
