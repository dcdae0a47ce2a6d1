import Logging
import Synchronization
import Testing
@testable import HSNNOps

/// A manually advanced clock for the limiter.
final class ManualClock: Sendable {
    private let time = Mutex<Duration>(.zero)
    var now: Duration { time.withLock { $0 } }
    func advance(by step: Duration) { time.withLock { $0 += step } }
}

@Suite struct LogRateLimiterTests {
    @Test func letsLimitThroughPerIntervalAndReportsSuppressedCount() {
        let clock = ManualClock()
        let limiter = LogRateLimiter(limit: 2, interval: .seconds(10), now: { clock.now })
        #expect(limiter.admit("not_json") == .emit(suppressedBefore: 0))
        #expect(limiter.admit("not_json") == .emit(suppressedBefore: 0))
        #expect(limiter.admit("not_json") == .suppress)
        #expect(limiter.admit("not_json") == .suppress)
        #expect(limiter.admit("not_json") == .suppress)
        // Another key has its own budget.
        #expect(limiter.admit("too_large") == .emit(suppressedBefore: 0))
        clock.advance(by: .seconds(9))
        #expect(limiter.admit("not_json") == .suppress)
        clock.advance(by: .seconds(1))
        #expect(limiter.admit("not_json") == .emit(suppressedBefore: 4))
        #expect(limiter.admit("not_json") == .emit(suppressedBefore: 0))
        #expect(limiter.admit("not_json") == .suppress)
        #expect(limiter.totalSuppressed == 5)
    }

    @Test func drainReportsAndResetsPendingCounts() {
        let clock = ManualClock()
        let limiter = LogRateLimiter(limit: 1, interval: .seconds(1), now: { clock.now })
        _ = limiter.admit("a")
        _ = limiter.admit("a")
        _ = limiter.admit("a")
        _ = limiter.admit("b")
        let drained = limiter.drainSuppressed()
        #expect(drained.map(\.key) == ["a"])
        #expect(drained.map(\.count) == [2])
        #expect(limiter.drainSuppressed().isEmpty)
        clock.advance(by: .seconds(1))
        #expect(limiter.admit("a") == .emit(suppressedBefore: 0))
    }

    @Test func keyCountIsBounded() {
        let clock = ManualClock()
        let limiter = LogRateLimiter(limit: 1, interval: .seconds(60), maxKeys: 3, now: { clock.now })
        for key in ["a", "b", "c"] {
            _ = limiter.admit(key)
            clock.advance(by: .seconds(1))
        }
        #expect(limiter.admit("a") == .suppress)
        // A fourth key evicts the oldest window ("a"), which therefore starts afresh.
        #expect(limiter.admit("d") == .emit(suppressedBefore: 0))
        #expect(limiter.admit("a") == .emit(suppressedBefore: 0))
        #expect(limiter.admit("c") == .suppress)
    }
}

@Suite struct RateLimitedLoggerTests {
    @Test func suppressesAndAnnotatesTheNextEmittedLine() {
        let collector = LineCollector()
        let logger = Logger(label: "ingest") {
            LineLogHandler(label: $0, level: .info, output: collector.output, syslogPriorityPrefix: false)
        }
        let clock = ManualClock()
        let limited = RateLimitedLogger(logger: logger, limiter: LogRateLimiter(limit: 1, interval: .seconds(5), now: { clock.now }))
        var built = 0
        func message() -> Logger.Message {
            built += 1
            return "malformed message"
        }
        // Results are bound first: #expect would evaluate the message argument itself.
        let first = limited.warning(key: "not_json", message(), metadata: ["kafka.offset": "1"])
        let second = limited.warning(key: "not_json", message(), metadata: ["kafka.offset": "2"])
        let third = limited.warning(key: "not_json", message(), metadata: ["kafka.offset": "3"])
        let belowLevel = limited.log(level: .debug, key: "not_json", message())  // not counted
        clock.advance(by: .seconds(5))
        let afterWindow = limited.warning(key: "not_json", message(), metadata: ["kafka.offset": "4"])
        #expect([first, second, third, belowLevel, afterWindow] == [true, false, false, false, true])
        #expect(built == 2)
        let lines = collector.lines
        #expect(lines.count == 2)
        #expect(lines[0].hasSuffix("msg=\"malformed message\" logger=ingest kafka.offset=1\n"))
        #expect(lines[1].hasSuffix("msg=\"malformed message\" logger=ingest kafka.offset=4 log.suppressed=2\n"))
        #expect(limited.limiter.totalSuppressed == 2)
    }
}
