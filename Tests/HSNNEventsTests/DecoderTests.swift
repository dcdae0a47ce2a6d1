import Testing
@testable import HSNNEvents

@Suite("EventDecoder: valid events")
struct DecoderValidTests {
    let decoder = testDecoder()

    @Test func itemUpsert() throws {
        let event = try decoder.decode(#"{"type":"item","op":"upsert","item_id":"42","ts_ms":1700000000000,"features":{"genre":["Action","Comedy"],"year":"1995"}}"#)
        #expect(event == .item(ItemEvent(op: .upsert, itemID: "42", timestampMs: 1_700_000_000_000, features: Features([
            ("genre", .strings(["Action", "Comedy"])), ("year", .string("1995")),
        ]))))
    }

    @Test func itemDeleteDropsFeatures() throws {
        #expect(try decoder.decode(#"{"type":"item","op":"delete","item_id":42,"ts_ms":5}"#)
            == .item(ItemEvent(op: .delete, itemID: "42", timestampMs: 5)))
        #expect(try decoder.decode(#"{"type":"item","op":"delete","item_id":42,"ts_ms":5,"features":{"a":"b"}}"#)
            == .item(ItemEvent(op: .delete, itemID: "42", timestampMs: 5)))
    }

    @Test func itemUpsertWithoutFeaturesHasNone() throws {
        #expect(try decoder.decode(#"{"type":"item","op":"upsert","item_id":"9","ts_ms":0}"#)
            == .item(ItemEvent(op: .upsert, itemID: "9", timestampMs: 0)))
    }

    @Test func impression() throws {
        let event = try decoder.decode(#"{"type":"impression","event_id":"e1","request_id":"r1","ts_ms":1699999999999,"user_id":"7","item_id":"42","user_features":{"age":"25-34","gender":"F","occupation":"writer"},"clicked":true}"#)
        #expect(event == .impression(ImpressionEvent(
            eventID: "e1", requestID: "r1", timestampMs: 1_699_999_999_999, userID: "7", itemID: "42",
            userFeatures: Features([("age", .string("25-34")), ("gender", .string("F")), ("occupation", .string("writer"))]),
            clicked: true)))
    }

    @Test func impressionOptionalFields() throws {
        // No request_id (defaults to event_id), no user_features, no clicked.
        #expect(try decoder.decode(#"{"type":"impression","event_id":"e1","ts_ms":1,"user_id":7,"item_id":42}"#)
            == .impression(ImpressionEvent(eventID: "e1", requestID: "e1", timestampMs: 1, userID: "7", itemID: "42")))
        // null means absent.
        #expect(try decoder.decode(#"{"type":"impression","event_id":"e1","request_id":null,"ts_ms":1,"user_id":7,"item_id":42,"user_features":null,"clicked":null}"#)
            == .impression(ImpressionEvent(eventID: "e1", requestID: "e1", timestampMs: 1, userID: "7", itemID: "42")))
        #expect(try decoder.decode(#"{"type":"impression","event_id":"e1","ts_ms":1,"user_id":7,"item_id":42,"clicked":false}"#)
            == .impression(ImpressionEvent(eventID: "e1", requestID: "e1", timestampMs: 1, userID: "7", itemID: "42", clicked: false)))
    }

    @Test func click() throws {
        #expect(try decoder.decode(#"{"type":"click","event_id":"e2","request_id":"r1","ts_ms":1700000000000,"user_id":"7","item_id":"42"}"#)
            == .click(ClickEvent(eventID: "e2", requestID: "r1", timestampMs: 1_700_000_000_000, userID: "7", itemID: "42")))
        #expect(try decoder.decode(#"{"type":"click","event_id":"e2","ts_ms":3,"user_id":"7","item_id":"42"}"#)
            == .click(ClickEvent(eventID: "e2", requestID: "e2", timestampMs: 3, userID: "7", itemID: "42")))
    }

    @Test func integerIDsAreCarriedAsWritten() throws {
        let event = try decoder.decode(#"{"type":"click","event_id":0,"request_id":-3,"ts_ms":3,"user_id":123456789012345678901234567890,"item_id":42}"#)
        #expect(event == .click(ClickEvent(eventID: "0", requestID: "-3", timestampMs: 3,
                                           userID: "123456789012345678901234567890", itemID: "42")))
    }

    @Test func fieldOrderWhitespaceAndUnknownKeys() throws {
        let message = """
        \t { "item_id" : 42 , "future" : {"a":[1,2.5e-3,{"b":[true,false,null,"}\\"]"]}],"c":{}} , "ts_ms":7,
          "op":"upsert", "features" : { "n" : -2.5 , "big": 1E3, "list": [ ], "gone": null } ,"type" : "item", "x":[] }\r\n
        """
        #expect(try decoder.decode(message) == .item(ItemEvent(op: .upsert, itemID: "42", timestampMs: 7, features: Features([
            ("n", .number(-2.5)), ("big", .number(1000)), ("list", .strings([])),
        ]))))
    }

    @Test func stringEscapes() throws {
        let message = #"{"type":"click","event_id":"a\"b\\c\/d\b\f\n\r\t","request_id":"\u00e9\u65e5\uD83D\uDE00","ts_ms":1,"user_id":"é日😀","item_id":"\u0041"}"#
        #expect(try decoder.decode(message) == .click(ClickEvent(
            eventID: "a\"b\\c/d\u{08}\u{0C}\n\r\t", requestID: "é日😀", timestampMs: 1, userID: "é日😀", itemID: "A")))
    }

    @Test func escapedKeysAndValuesAreMatched() throws {
        let message = #"{"\u0074ype":"cl\u0069ck","event\u005fid":"e","ts_ms":1,"user_id":"u","item_id":"i"}"#
        #expect(try decoder.decode(message) == .click(ClickEvent(eventID: "e", requestID: "e", timestampMs: 1, userID: "u", itemID: "i")))
    }

    @Test func numbersAreConvertedExactly() throws {
        let cases: [(String, Double)] = [
            ("0", 0), ("-0", 0), ("1995", 1995), ("0.1", 0.1), ("-2.5", -2.5), ("1e22", 1e22), ("1e23", 1e23),
            ("123456789012345678901234567890", 123456789012345678901234567890.0), ("4.9e-324", 4.9e-324),
            ("1.7976931348623157e308", 1.7976931348623157e308), ("2.2250738585072014E-308", 2.2250738585072014e-308),
            ("0.30000000000000004", 0.30000000000000004), ("9007199254740993", 9007199254740993.0), ("1e-400", 0),
        ]
        for (text, value) in cases {
            let event = try decoder.decode(#"{"type":"item","op":"upsert","item_id":"1","ts_ms":1,"features":{"x":\#(text)}}"#)
            guard case .item(let item) = event, case .number(let decoded)? = item.features["x"] else {
                Issue.record("no number for \(text)")
                continue
            }
            #expect(decoded == value, "\(text)")
            #expect(decoded == Double(text)!, "\(text) differs from the standard library")
        }
    }

    @Test func acceptsAllInputForms() throws {
        let text = #"{"type":"click","event_id":"e","ts_ms":1,"user_id":"u","item_id":"i"}"#
        let expected = try decoder.decode(text)
        #expect(try decoder.decode(Array(text.utf8)) == expected)
        #expect(try decoder.decode(("xx" + text + "yy").dropFirst(2).dropLast(2)) == expected)
        let viaBuffer = try Array(text.utf8).withUnsafeBytes { try decoder.decodeResult($0).get() }
        #expect(viaBuffer == expected)
    }

    @Test func userQuery() throws {
        #expect(try decoder.decodeUserQuery(#"{"user_id":7,"user_features":{"age":"25-34"},"type":"anything"}"#[...])
            == UserQuery(userID: "7", userFeatures: Features([("age", .string("25-34"))])))
        #expect(try decoder.decodeUserQuery(#"{"user_id":"u"}"#[...]) == UserQuery(userID: "u"))
        #expect(throws: DecodeFailure.self) { try decoder.decodeUserQuery(#"{"user_features":{}}"#[...]) }
    }

    @Test func futureCheckUsesTheClockAndCanBeDisabled() throws {
        let limit: Int64 = 24 * 3600 * 1000
        let atLimit = #"{"type":"click","event_id":"e","ts_ms":\#(testNowMs + limit),"user_id":"u","item_id":"i"}"#
        let beyond = #"{"type":"click","event_id":"e","ts_ms":\#(testNowMs + limit + 1),"user_id":"u","item_id":"i"}"#
        _ = try decoder.decode(atLimit)
        #expect(failure(beyond)?.reason == .futureTimestamp)
        let unchecked = testDecoder(DecoderLimits(maxFutureSkewMs: nil))
        _ = try unchecked.decode(beyond)
        // An explicit now overrides the clock.
        _ = try beyond.utf8.withContiguousStorageIfAvailable { try decoder.decode(UnsafeRawBufferPointer($0), nowMs: testNowMs + 10) }
    }
}

@Suite("EventDecoder: failures")
struct DecoderFailureTests {
    static let valid = #"{"type":"impression","event_id":"e1","request_id":"r1","ts_ms":1700000000000,"user_id":"7","item_id":"42","user_features":{"age":"25-34"},"clicked":true}"#

    /// One or more messages per reason: (message bytes, expected reason, expected field, limits).
    static let cases: [(bytes: [UInt8], reason: DecodeFailure.Reason, field: String?, limits: DecoderLimits)] = {
        func c(_ s: String, _ reason: DecodeFailure.Reason, _ field: String? = nil, _ limits: DecoderLimits = DecoderLimits())
            -> (bytes: [UInt8], reason: DecodeFailure.Reason, field: String?, limits: DecoderLimits) {
            (Array(s.utf8), reason, field, limits)
        }
        func b(_ bytes: [UInt8], _ reason: DecodeFailure.Reason)
            -> (bytes: [UInt8], reason: DecodeFailure.Reason, field: String?, limits: DecoderLimits) {
            (bytes, reason, nil, DecoderLimits())
        }
        let click = #"{"type":"click","event_id":"e","ts_ms":1,"user_id":"u","item_id":"i""#
        let item = #"{"type":"item","op":"upsert","item_id":"1","ts_ms":1"#
        return [
            c("", .empty), c(" \t\r\n ", .empty),
            c(valid, .tooLarge, nil, DecoderLimits(maxMessageBytes: 100)),
            b(Array(#"{"type":"click","event_id":""#.utf8) + [0xFF] + Array(#"","ts_ms":1}"#.utf8), .invalidUTF8),
            b([0x7B, 0x22, 0xC0, 0xAF, 0x22, 0x3A, 0x31, 0x7D], .invalidUTF8),  // overlong '/'
            b([0x7B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x3A, 0x31, 0x7D], .invalidUTF8),  // encoded surrogate
            b([0x7B, 0x22, 0xF4, 0x90, 0x80, 0x80, 0x22, 0x3A, 0x31, 0x7D], .invalidUTF8),  // above U+10FFFF
            b([0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xE6, 0x97], .invalidUTF8),  // truncated sequence
            c(#"{"type":"click","event_id":"\uD800","ts_ms":1}"#, .invalidUTF8),
            c(#"{"type":"click","event_id":"\uDC00x","ts_ms":1}"#, .invalidUTF8),
            c(#"{"type":"click","event_id":"\uD800\u0041","ts_ms":1}"#, .invalidUTF8),
            c(String(valid.dropLast()), .notJSON), c(String(valid.prefix(40)), .notJSON), c("{", .notJSON),
            c(valid + " x", .notJSON), c(valid + "{}", .notJSON), c("{'type':'item'}", .notJSON),
            c(#"{"a":tru}"#, .notJSON), c(#"{"a":01}"#, .notJSON), c(#"{"a":1.}"#, .notJSON), c(#"{"a":-}"#, .notJSON),
            c(#"{"a":"\x"}"#, .notJSON), c(#"{"a":"\u12G4"}"#, .notJSON), c("{\"a\":\"tab\there\"}", .notJSON),
            c(#"{"a" 1}"#, .notJSON), c(#"{,}"#, .notJSON), c(#"{"a":1,}"#, .notJSON), c(#"{"a":[1,]}"#, .notJSON),
            c("[1,2", .notJSON), c("hello", .notJSON), c(#"{"a":1}}"#, .notJSON),
            c(#"{"junk":"# + String(repeating: "[", count: 10_000), .tooDeep),
            c(String(repeating: #"{"a":"#, count: 100) + "1" + String(repeating: "}", count: 100), .tooDeep),
            c(#"{"x":[[[[1]]]]}"#, .tooDeep, nil, DecoderLimits(maxNestingDepth: 4)),
            c("[1,2]", .notObject), c(#""str""#, .notObject), c("42", .notObject), c(" null ", .notObject),
            c(#"{"type":"view","event_id":"e","ts_ms":1}"#, .unknownType, "type"),
            c(#"{"type":"ITEM"}"#, .unknownType, "type"),
            c(#"{"type":"item","op":"merge","item_id":"1","ts_ms":1}"#, .unknownOperation, "op"),
            c(#"{"event_id":"e","ts_ms":1,"user_id":"u","item_id":"i"}"#, .missingField, "type"),
            c(#"{"type":"impression","event_id":"e","ts_ms":1,"item_id":"i"}"#, .missingField, "user_id"),
            c(#"{"type":"item","op":"upsert","item_id":"1"}"#, .missingField, "ts_ms"),
            c(#"{"type":"item","item_id":"1","ts_ms":1}"#, .missingField, "op"),
            c(#"{"type":"click","ts_ms":1,"user_id":"u","item_id":"i"}"#, .missingField, "event_id"),
            c(click + #","item_id":"j"}"#, .duplicateField, "item_id"),
            c(#"{"type":"click","type":"item"}"#, .duplicateField, "type"),
            c(#"{"type":5}"#, .wrongType, "type"),
            c(#"{"type":"item","op":"upsert","item_id":["1"],"ts_ms":1}"#, .wrongType, "item_id"),
            c(#"{"type":"item","op":"upsert","item_id":4.2,"ts_ms":1}"#, .wrongType, "item_id"),
            c(#"{"type":"item","op":"upsert","item_id":1e3,"ts_ms":1}"#, .wrongType, "item_id"),
            c(#"{"type":"item","op":"upsert","item_id":null,"ts_ms":1}"#, .wrongType, "item_id"),
            c(#"{"type":"item","op":"upsert","item_id":true,"ts_ms":1}"#, .wrongType, "item_id"),
            c(#"{"type":"item","op":"upsert","item_id":"1","ts_ms":"1"}"#, .wrongType, "ts_ms"),
            c(#"{"type":"click","clicked":"yes"}"#, .wrongType, "clicked"),
            c(#"{"type":"click","clicked":1}"#, .wrongType, "clicked"),
            c(item + #","features":["a"]}"#, .wrongType, "features"),
            c(item + #","features":{"a":true}}"#, .wrongType, "features.a"),
            c(item + #","features":{"a":{"b":"c"}}}"#, .wrongType, "features.a"),
            c(item + #","features":{"a":["x",1]}}"#, .wrongType, "features.a"),
            c(item + #","features":{"a":["x",null]}}"#, .wrongType, "features.a"),
            c(item + #","features":{"a":[["x"]]}}"#, .wrongType, "features.a"),
            c(#"{"type":"impression","user_features":"age=3"}"#, .wrongType, "user_features"),
            c(#"{"type":"item","op":"upsert","item_id":"","ts_ms":1}"#, .invalidID, "item_id"),
            c(#"{"type":"click","event_id":"","ts_ms":1}"#, .invalidID, "event_id"),
            c(#"{"type":"item","ts_ms":-5}"#, .invalidTimestamp, "ts_ms"),
            c(#"{"type":"item","ts_ms":1.5}"#, .invalidTimestamp, "ts_ms"),
            c(#"{"type":"item","ts_ms":1e3}"#, .invalidTimestamp, "ts_ms"),
            c(#"{"type":"item","ts_ms":99999999999999999999}"#, .invalidTimestamp, "ts_ms"),
            c(item + #","features":{"a":NaN}}"#, .nonFiniteNumber, "features.a"),
            c(item + #","features":{"a":Infinity}}"#, .nonFiniteNumber, "features.a"),
            c(item + #","features":{"a":-Infinity}}"#, .nonFiniteNumber, "features.a"),
            c(item + #","features":{"a":1e999}}"#, .nonFiniteNumber, "features.a"),
            c(item + #","features":{"a":-1e999}}"#, .nonFiniteNumber, "features.a"),
            c(item + #","features":{"a":["x",NaN]}}"#, .nonFiniteNumber, "features.a"),
            c(#"{"type":"item","ts_ms":NaN}"#, .nonFiniteNumber, "ts_ms"),
            c(#"{"type":"item","item_id":Infinity}"#, .nonFiniteNumber, "item_id"),
            c(#"{"extra":[1,{"deep":NaN}]}"#, .nonFiniteNumber),
            c(#"{"type":"click","event_id":"e","ts_ms":1700086400001,"user_id":"u","item_id":"i"}"#, .futureTimestamp, "ts_ms"),
            c(item + #","features":{"a":"1","b":"2","c":"3"}}"#, .tooManyFeatures, "features", DecoderLimits(maxFeatures: 2)),
            c(item + #","features":{"a":["1","2","3"]}}"#, .tooManyValues, "features.a", DecoderLimits(maxValuesPerList: 2)),
            c(#"{"type":"item","item_id":"12345"}"#, .stringTooLong, "item_id", DecoderLimits(maxStringBytes: 4)),
            c(#"{"type":"item","item_id":12345}"#, .stringTooLong, "item_id", DecoderLimits(maxStringBytes: 4)),
            c(#"{"type":"item","item_id":"\u00e9\u00e9\u00e9"}"#, .stringTooLong, "item_id", DecoderLimits(maxStringBytes: 5)),
            c(item + #","features":{"longname":"1"}}"#, .stringTooLong, "features", DecoderLimits(maxStringBytes: 4)),
            c(item + #","features":{"a":["1","22222"]}}"#, .stringTooLong, "features.a", DecoderLimits(maxStringBytes: 4)),
        ]
    }()

    @Test func everyReasonHasACase() {
        let covered = Set(Self.cases.map(\.reason))
        #expect(covered == Set(DecodeFailure.Reason.allCases))
    }

    @Test(arguments: 0..<cases.count)
    func failsWithTheRightReason(_ index: Int) {
        let (bytes, reason, field, limits) = Self.cases[index]
        let text = String(decoding: bytes.prefix(120), as: UTF8.self)
        guard let failure = failure(bytes, testDecoder(limits)) else {
            Issue.record("decoded: \(text)")
            return
        }
        #expect(failure.reason == reason, "\(text) -> \(failure)")
        if let field { #expect(failure.field == field, "\(text) -> \(failure)") }
        #expect(!failure.message.isEmpty)
        if let field { #expect(failure.message.contains(field), "message should name the field: \(failure.message)") }
    }

    @Test func reasonLabelsAreStable() {
        #expect(DecodeFailure.Reason.allCases.map(\.rawValue) == [
            "empty", "too_large", "invalid_utf8", "not_json", "too_deep", "not_object", "unknown_type", "unknown_op",
            "missing_field", "duplicate_field", "wrong_type", "invalid_id", "invalid_timestamp", "non_finite_number",
            "future_timestamp", "too_many_features", "too_many_values", "string_too_long",
        ])
        for reason in DecodeFailure.Reason.allCases { #expect(!reason.operatorHint.isEmpty) }
    }

    @Test func failureDescriptionCarriesReasonAndOffset() {
        let f = failure(#"{"type":"item","op":"upsert","item_id":[1],"ts_ms":1}"#)
        #expect(f?.byteOffset == 39)
        #expect(f?.description.hasPrefix("wrong_type: 'item_id' must be a string or an integer, found an array") == true)
    }
}

@Suite("EventDecoder: string scanning at every alignment")
struct StringScanTests {
    @Test func specialCharactersAtEveryOffset() throws {
        let decoder = testDecoder()
        let specials: [(raw: String, decoded: String)] = [("\\\"", "\""), ("\\\\", "\\"), ("\\n", "\n"), ("é", "é"), ("😀", "😀"), ("\\u0000", "\u{0}")]
        for prefixLength in 0..<20 {
            for suffixLength in 0..<10 {
                for (raw, decoded) in specials {
                    let prefix = String(repeating: "p", count: prefixLength)
                    let suffix = String(repeating: "s", count: suffixLength)
                    let line = #"{"type":"click","event_id":"\#(prefix)\#(raw)\#(suffix)","ts_ms":1,"user_id":"u","item_id":"i"}"#
                    guard case .click(let click) = try decoder.decode(line) else {
                        Issue.record("not a click")
                        continue
                    }
                    #expect(click.eventID == prefix + decoded + suffix)
                }
                // A raw control character at any offset is rejected.
                let bytes = Array(#"{"type":"click","event_id":""#.utf8) + [UInt8](repeating: 0x61, count: prefixLength) + [0x01]
                    + [UInt8](repeating: 0x62, count: suffixLength) + Array(#"","ts_ms":1,"user_id":"u","item_id":"i"}"#.utf8)
                #expect(failure(bytes)?.reason == .notJSON)
            }
        }
    }
}
