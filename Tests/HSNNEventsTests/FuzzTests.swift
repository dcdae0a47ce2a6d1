import Foundation
import HSNNSynth
import Testing
@testable import HSNNEvents
import HSNNMath

@Suite("Decoder robustness")
struct FuzzTests {
    static let seeds: [String] = [
        #"{"type":"item","op":"upsert","item_id":"42","ts_ms":1700000000000,"features":{"genre":["Action","Comedy"],"year":"1995","score":-2.5e-3}}"#,
        #"{"type":"item","op":"delete","item_id":42,"ts_ms":1700000000000}"#,
        #"{"type":"impression","event_id":"e1","request_id":"r1","ts_ms":1699999999999,"user_id":"7","item_id":"42","user_features":{"age":"25-34","gender":"F","occupation":"writer"},"clicked":true}"#,
        #"{"type":"click","event_id":"e\u00e9\uD83D\uDE00","request_id":"r1","ts_ms":1,"user_id":7,"item_id":"42","x":[{"y":null},1e5,"\"\\"]}"#,
        #"{"user_id":"7","user_features":{"age":"25-34","tags":["a","b"]}}"#,
    ]

    /// Applies 1-4 random edits: byte flips, insertions of structural or random bytes,
    /// deletions, truncation and duplication of a slice.
    static func mutate(_ input: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var bytes = input
        let interesting: [UInt8] = Array(#"{}[]":,\-+.0123456789eEtfnulNI"#.utf8) + [0x00, 0x0A, 0x80, 0xC3, 0xED, 0xF4, 0xFF]
        for _ in 0..<Int(1 + rng.next() % 4) {
            let position = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
            switch rng.next() % 6 {
            case 0 where !bytes.isEmpty: bytes[position] ^= UInt8(1 << (rng.next() % 8))
            case 1: bytes.insert(interesting[Int(rng.next() % UInt64(interesting.count))], at: position)
            case 2 where !bytes.isEmpty: bytes.remove(at: position)
            case 3: bytes = Array(bytes.prefix(position))
            case 4 where !bytes.isEmpty:
                let end = min(bytes.count, position + Int(rng.next() % 16))
                bytes.insert(contentsOf: bytes[position..<end], at: position)
            default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: position)
            }
        }
        return bytes
    }

    @Test func mutatedMessagesNeverCrashAndAgreeWithFoundationOnSyntax() throws {
        // HSNN_FUZZ_ITERATIONS / HSNN_FUZZ_SEED run longer or different campaigns.
        let environment = ProcessInfo.processInfo.environment
        let iterations = environment["HSNN_FUZZ_ITERATIONS"].flatMap { Int($0) } ?? 30_000
        var rng = SeededRandom(seed: environment["HSNN_FUZZ_SEED"].flatMap { UInt64($0) } ?? 2024)
        let decoder = testDecoder(DecoderLimits(maxFutureSkewMs: nil))
        let encoder = EventEncoder()
        var decodedCount = 0
        var reasons: [DecodeFailure.Reason: Int] = [:]
        for iteration in 0..<iterations {
            let seed = Array(Self.seeds[iteration % Self.seeds.count].utf8)
            let message = Self.mutate(seed, &rng)
            let result = decoder.result(message)
            let queryResult = message.withUnsafeBytes { buffer in
                Result { () throws(DecodeFailure) in try decoder.decodeUserQuery(buffer) }
            }
            switch result {
            case .success(let event):
                decodedCount += 1
                // Whatever decodes re-encodes to an equal event.
                #expect(try decoder.decode(encoder.encode(event)) == event)
            case .failure(let failure):
                reasons[failure.reason, default: 0] += 1
                #expect(!failure.message.isEmpty)
                // Foundation guesses UTF-16/32 from NUL bytes, so only NUL-free messages compare.
                if failure.reason == .notJSON && !message.contains(0) {
                    let foundation = try? JSONSerialization.jsonObject(with: Data(message), options: [.fragmentsAllowed])
                    // Foundation tolerates a trailing comma before '}' or ']'; anything else it
                    // accepts must not be called not_json.
                    if foundation != nil {
                        #expect(Self.isTrailingComma(message, at: failure.byteOffset),
                                "Foundation parsed what we call not_json: \(String(decoding: message, as: UTF8.self)) (\(failure))")
                    }
                }
            }
            // The query decoder shares the syntax checks.
            if case .failure(let failure) = queryResult, failure.reason == .notJSON {
                #expect(!((try? result.get()) != nil), "event decoded but query says not_json")
            }
        }
        #expect(decodedCount > 100, "mutations should sometimes keep the message valid")
        #expect(reasons.count >= 6, "mutations should reach many failure reasons: \(reasons)")
    }

    /// Whether `offset` points at '}' or ']' preceded (across whitespace) by ','.
    static func isTrailingComma(_ message: [UInt8], at offset: Int?) -> Bool {
        guard let offset, offset < message.count, message[offset] == UInt8(ascii: "}") || message[offset] == UInt8(ascii: "]")
        else { return false }
        var i = offset - 1
        while i >= 0, [0x20, 0x09, 0x0A, 0x0D].contains(message[i]) { i -= 1 }
        return i >= 0 && message[i] == UInt8(ascii: ",")
    }

    @Test func pathologicalInputs() {
        let decoder = testDecoder()
        let inputs: [[UInt8]] = [
            Array(String(repeating: "[", count: 1_000_000).utf8),
            Array(String(repeating: "{\"a\":", count: 200_000).utf8),
            Array(("{\"a\":\"" + String(repeating: "\\u00e9", count: 10_000) + "\"}").utf8),
            [UInt8](repeating: 0xFF, count: 1000),
            [UInt8](repeating: 0x00, count: 1000),
            Array("{\"a\":\"\\".utf8),
            Array("{\"a\":\"\\u12".utf8),
            Array("{\"a\":1e".utf8),
            Array("{\"a\":-".utf8),
            Array("{\"a\":\"\\uD83D\\u".utf8),
        ]
        for input in inputs {
            let unlimited = testDecoder(DecoderLimits(maxMessageBytes: .max))
            #expect(throws: DecodeFailure.self) { try unlimited.decode(input) }
            #expect(throws: DecodeFailure.self) { try decoder.decode(input) }
        }
    }
}

extension EventDecoder {
    /// Decodes an array into a `Result` (test convenience).
    func result(_ message: [UInt8]) -> Result<Event, DecodeFailure> {
        message.withUnsafeBytes { decodeResult($0) }
    }
}
