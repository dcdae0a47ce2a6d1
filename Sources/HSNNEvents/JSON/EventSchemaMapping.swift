// Maps one JSON message onto the event schema: which fields are allowed, their types and
// limits, and the error each violation reports.

extension MessageParser {
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
