#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import HSNNEvents

/// A temporary file removed when the value is released.
final class TemporaryFile {
    let path: String

    init(_ bytes: [UInt8]) {
        var template = Array("/tmp/hsnn-events-test-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        precondition(fd >= 0, "mkstemp failed")
        path = String(cString: template)
        var written = 0
        while written < bytes.count {
            let n = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
            precondition(n > 0, "write failed")
            written += n
        }
        close(fd)
    }

    convenience init(_ text: String) { self.init(Array(text.utf8)) }

    deinit { unlink(path) }
}

@Suite("Line readers")
struct LineReaderTests {
    static let click = #"{"type":"click","event_id":"e","ts_ms":1,"user_id":"u","item_id":"i"}"#

    func readAll(_ file: TemporaryFile, chunkSize: Int, limits: DecoderLimits = DecoderLimits())
        throws -> [(Int, Result<Event, DecodeFailure>)] {
        let reader = try EventLineReader(path: file.path, decoder: testDecoder(limits), chunkSize: chunkSize)
        var lines: [(Int, Result<Event, DecodeFailure>)] = []
        while let line = try reader.next() { lines.append((line.lineNumber, line.result)) }
        return lines
    }

    func clickEvent(_ id: String) -> Event {
        .click(ClickEvent(eventID: id, requestID: id, timestampMs: 1, userID: "u", itemID: "i"))
    }

    func clickLine(_ id: String) -> String {
        #"{"type":"click","event_id":"\#(id)","ts_ms":1,"user_id":"u","item_id":"i"}"#
    }

    @Test(arguments: [1, 2, 7, 64, 1 << 20])
    func edgeCasesAtEveryChunkSize(_ chunkSize: Int) throws {
        let text = clickLine("a") + "\n" + "\n" + "  \t\r\n" + clickLine("b") + "\r\n" + "not json\n" + "\r\n" + clickLine("c")
        let lines = try readAll(TemporaryFile(text), chunkSize: chunkSize)
        #expect(lines.map(\.0) == [1, 4, 5, 7])
        #expect(try lines[0].1.get() == clickEvent("a"))
        #expect(try lines[1].1.get() == clickEvent("b"))
        guard case .failure(let failure) = lines[2].1 else {
            Issue.record("line 5 should fail")
            return
        }
        #expect(failure.reason == .notJSON)
        #expect(try lines[3].1.get() == clickEvent("c"))
    }

    @Test func emptyAndBlankFiles() throws {
        #expect(try readAll(TemporaryFile(""), chunkSize: 4).isEmpty)
        #expect(try readAll(TemporaryFile("\n\r\n  \n"), chunkSize: 4).isEmpty)
    }

    @Test func finalLineWithCRButNoNewline() throws {
        let lines = try readAll(TemporaryFile(clickLine("z") + "\r"), chunkSize: 5)
        #expect(lines.count == 1)
        #expect(try lines[0].1.get() == clickEvent("z"))
    }

    @Test(arguments: [3, 16, 1 << 16])
    func overLongLinesAreReportedWithoutStoppingTheReader(_ chunkSize: Int) throws {
        let limits = DecoderLimits(maxMessageBytes: Self.click.utf8.count + 1)
        let long = #"{"type":"click","pad":""# + String(repeating: "x", count: 5000) + #""}"#
        let exact = Self.click + " "
        let text = [clickLine("1"), long, exact, long, clickLine("2"), long].joined(separator: "\n")
        let lines = try readAll(TemporaryFile(text), chunkSize: chunkSize, limits: limits)
        #expect(lines.map(\.0) == [1, 2, 3, 4, 5, 6])
        for index in [1, 3, 5] {
            guard case .failure(let failure) = lines[index].1 else {
                Issue.record("line \(index + 1) should be too large")
                continue
            }
            #expect(failure.reason == .tooLarge)
            #expect(failure.message.contains("\(long.utf8.count) bytes"), "\(failure.message)")
        }
        #expect(try lines[0].1.get() == clickEvent("1"))
        #expect(try lines[2].1.get() == .click(ClickEvent(eventID: "e", requestID: "e", timestampMs: 1, userID: "u", itemID: "i")))
        #expect(try lines[4].1.get() == clickEvent("2"))
    }

    @Test func manyLinesAcrossChunks() throws {
        var generator = EventGenerator(seed: 3)
        let encoder = EventEncoder()
        var bytes: [UInt8] = []
        var events: [Event] = []
        for i in 0..<5_000 {
            let event = generator.event()
            events.append(event)
            try encoder.encode(event, into: &bytes)
            bytes += i % 3 == 0 ? [0x0D, 0x0A] : [0x0A]
        }
        let lines = try readAll(TemporaryFile(bytes), chunkSize: 4093, limits: DecoderLimits(maxFutureSkewMs: nil))
        #expect(lines.count == events.count)
        for (index, line) in lines.enumerated() {
            #expect(line.0 == index + 1)
            #expect(try line.1.get() == events[index])
        }
    }

    @Test func userQueries() throws {
        let text = #"{"user_id":"7","user_features":{"age":"25-34"}}"# + "\n\n" + #"{"user_features":{}}"# + "\n" + #"{"user_id":8}"#
        let file = TemporaryFile(text)
        let reader = try UserQueryLineReader(path: file.path, decoder: testDecoder(), chunkSize: 3)
        var lines: [(Int, Result<UserQuery, DecodeFailure>)] = []
        while let line = try reader.next() { lines.append((line.lineNumber, line.result)) }
        #expect(lines.map(\.0) == [1, 3, 4])
        #expect(try lines[0].1.get() == UserQuery(userID: "7", userFeatures: Features([("age", .string("25-34"))])))
        guard case .failure(let failure) = lines[1].1 else {
            Issue.record("line 3 should fail")
            return
        }
        #expect(failure.reason == .missingField)
        #expect(try lines[2].1.get() == UserQuery(userID: "8"))
    }

    @Test func missingFileNamesThePath() {
        do {
            _ = try EventLineReader(path: "/nonexistent/events.jsonl")
            Issue.record("opening a missing file must fail")
        } catch {
            #expect(error.code == .openFailed)
            #expect(error.description.contains("/nonexistent/events.jsonl"))
        }
    }
}
