#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Synchronization
import Testing
@testable import HSNNOps

/// Collects lines written to a ``LogOutput``.
final class LineCollector: Sendable {
    private final class Store: Sendable {
        let lines = Mutex<[String]>([])
    }

    private let store: Store
    let output: LogOutput
    var lines: [String] { store.lines.withLock { $0 } }

    init() {
        let store = Store()
        self.store = store
        self.output = LogOutput(capture: { line in store.lines.withLock { $0.append(line) } })
    }
}

@Suite struct LogLineFormatterTests {
    // 2024-02-29T13:45:07.089Z
    let time = WallClockTime(seconds: 1_709_214_307, nanoseconds: 89_500_000)

    @Test func logfmtLine() {
        let formatter = LogLineFormatter(format: .logfmt, syslogPriorityPrefix: false)
        let line = formatter.line(
            time: time, level: .info, label: "hsnn", message: "consumer started",
            metadata: ["kafka.topic": "hsnn.events", "kafka.partition": .stringConvertible(3), "empty": ""])
        #expect(line == "ts=2024-02-29T13:45:07.089Z level=info msg=\"consumer started\" logger=hsnn empty=\"\" kafka.partition=3 kafka.topic=hsnn.events\n")
    }

    @Test func logfmtEscapesQuotesNewlinesAndEquals() {
        let formatter = LogLineFormatter(format: .logfmt, syslogPriorityPrefix: false)
        let line = formatter.line(
            time: time, level: .warning, label: "hsnn.ingest", message: "bad \"input\"\nsecond line",
            metadata: ["reason": "a=b", "bad key": "x\\y", "msg": "clash"])
        #expect(line == #"ts=2024-02-29T13:45:07.089Z level=warning msg="bad \"input\"\nsecond line" logger=hsnn.ingest bad_key="x\\y" _msg=clash reason="a=b""# + "\n")
        #expect(line.dropLast().contains("\n") == false)
    }

    @Test func jsonLine() throws {
        let formatter = LogLineFormatter(format: .json, syslogPriorityPrefix: false)
        let line = formatter.line(
            time: time, level: .error, label: "hsnn", message: "publish failed: \"disk\"\tfull",
            metadata: ["checkpoint.version": "42", "tags": ["a", "b"], "ctx": ["k": "v"], "ctl": "\u{1}"])
        #expect(line == #"{"ts":"2024-02-29T13:45:07.089Z","level":"error","msg":"publish failed: \"disk\"\tfull","logger":"hsnn","checkpoint.version":"42","ctl":"\u0001","ctx":{"k":"v"},"tags":["a","b"]}"# + "\n")
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        #expect(object?["msg"] as? String == "publish failed: \"disk\"\tfull")
        #expect(object?["tags"] as? [String] == ["a", "b"])
    }

    @Test func syslogPriorityPrefix() {
        let formatter = LogLineFormatter(format: .logfmt, syslogPriorityPrefix: true)
        let expected: [(Logger.Level, String)] = [
            (.trace, "<7>"), (.debug, "<7>"), (.info, "<6>"), (.notice, "<5>"), (.warning, "<4>"), (.error, "<3>"),
            (.critical, "<2>"),
        ]
        for (level, prefix) in expected {
            let line = formatter.line(time: time, level: level, label: "x", message: "m", metadata: [:])
            #expect(line.hasPrefix(prefix + "ts=2024-02-29T13:45:07.089Z level=\(level.rawValue) "))
        }
    }

    @Test func timestampsPadEveryField() {
        #expect(LogLineFormatter.iso8601(WallClockTime(seconds: 0, nanoseconds: 1_000_000)) == "1970-01-01T00:00:00.001Z")
        #expect(LogLineFormatter.iso8601(WallClockTime(seconds: 4_102_444_799, nanoseconds: 999_999_999))
            == "2099-12-31T23:59:59.999Z")
    }
}

@Suite struct LineLogHandlerTests {
    @Test func handlerMergesMetadataAndFiltersByLevel() {
        let collector = LineCollector()
        var logger = Logger(label: "hsnn.test") {
            LineLogHandler(label: $0, format: .logfmt, level: .info, output: collector.output, syslogPriorityPrefix: false)
        }
        logger[metadataKey: "component"] = "poller"
        logger.debug("hidden")
        logger.info("partition assigned", metadata: ["kafka.partition": "2", "component": "override"])
        let lines = collector.lines
        #expect(lines.count == 1)
        let line = lines[0]
        #expect(line.hasPrefix("ts="))
        #expect(line.hasSuffix(" level=info msg=\"partition assigned\" logger=hsnn.test component=override kafka.partition=2\n"))
    }

    @Test func metadataProviderIsApplied() {
        let collector = LineCollector()
        let provider = Logger.MetadataProvider { ["request.id": "r1"] }
        let logger = Logger(label: "x") {
            LineLogHandler(label: $0, format: .json, level: .trace, output: collector.output, syslogPriorityPrefix: false,
                           metadataProvider: provider)
        }
        logger.trace("t")
        #expect(collector.lines.first?.hasSuffix(#""msg":"t","logger":"x","request.id":"r1"}"# + "\n") == true)
    }

    @Test func concurrentLinesStayWhole() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hsnn-log-\(UUID()).log").path
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        #expect(fd >= 0)
        defer { unlink(path) }
        let output = LogOutput(fileDescriptor: fd)
        let threads = 8, perThread = 500
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<threads {
                group.addTask {
                    let logger = Logger(label: "load") {
                        LineLogHandler(label: $0, output: output, syslogPriorityPrefix: false)
                    }
                    for i in 0..<perThread {
                        logger.info("line", metadata: ["thread": "\(t)", "i": "\(i)", "pad": .string(String(repeating: "x", count: 200))])
                    }
                }
            }
        }
        close(fd)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.count == threads * perThread)
        let pad = String(repeating: "x", count: 200)
        #expect(lines.allSatisfy { $0.hasPrefix("ts=") && $0.contains(" pad=\(pad) thread=") })
        for t in 0..<threads {
            #expect(lines.filter { $0.hasSuffix(" thread=\(t)") }.count == perThread)
        }
    }

    @Test func journalDetectionComparesDeviceAndInode() {
        #expect(LineLogHandler.standardOutputIsJournal(environment: [:]) == false)
        #expect(LineLogHandler.standardOutputIsJournal(environment: ["JOURNAL_STREAM": "garbage"]) == false)
        guard let identity = LineLogHandler.standardOutputIdentity() else { return }
        #expect(LineLogHandler.standardOutputIsJournal(environment: ["JOURNAL_STREAM": "\(identity.device):\(identity.inode)"]))
        #expect(LineLogHandler.standardOutputIsJournal(
            environment: ["JOURNAL_STREAM": "\(identity.device):\(identity.inode + 1)"]) == false)
    }
}
