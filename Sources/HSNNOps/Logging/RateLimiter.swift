import Metrics
import Logging
import Synchronization

/// Lets at most `limit` events per key through in each `interval`, and counts the rest.
///
/// Meant for logs that outside input can trigger at any rate (malformed messages): one bad
/// producer must not flood the journal. Windows are fixed per key, starting at the key's first
/// event after the previous window ended. The first event let through after suppression reports
/// how many were suppressed since the last one let through. At most `maxKeys` keys are
/// remembered; when full, keys whose window has ended are forgotten first, then the oldest.
public final class LogRateLimiter: Sendable {
    /// Whether to emit an event.
    public enum Decision: Sendable, Hashable {
        /// Emit it; `suppressedBefore` events of this key were suppressed since the previous emitted one.
        case emit(suppressedBefore: Int)
        /// Suppress it (it has been counted).
        case suppress
    }

    private struct Window {
        var start: Duration
        var emitted: Int
        var suppressed: Int
    }

    private struct State {
        var windows: [String: Window] = [:]
        var totalSuppressed = 0
    }

    public let limit: Int
    public let interval: Duration
    public let maxKeys: Int
    private let now: @Sendable () -> Duration
    private let state = Mutex(State())

    /// Creates a limiter.
    /// - Parameters:
    ///   - limit: Events let through per key and interval (at least 1).
    ///   - interval: Window length.
    ///   - maxKeys: Keys remembered at once (bounds memory when keys come from input).
    ///   - now: Monotonic time since any fixed origin; the default reads `ContinuousClock`.
    public init(limit: Int, interval: Duration, maxKeys: Int = 1024, now: (@Sendable () -> Duration)? = nil) {
        precondition(limit >= 1 && maxKeys >= 1 && interval > .zero, "rate limiter needs limit, maxKeys and interval > 0")
        self.limit = limit
        self.interval = interval
        self.maxKeys = maxKeys
        if let now {
            self.now = now
        } else {
            let origin = ContinuousClock.now
            self.now = { ContinuousClock.now - origin }
        }
    }

    /// Decides about one event of `key` and records it.
    public func admit(_ key: String) -> Decision {
        let time = now()
        return state.withLock { state in
            if var window = state.windows[key] {
                if time - window.start >= interval {
                    window.start = time
                    window.emitted = 0
                }
                if window.emitted < limit {
                    let suppressed = window.suppressed
                    window.emitted += 1
                    window.suppressed = 0
                    state.windows[key] = window
                    return .emit(suppressedBefore: suppressed)
                }
                window.suppressed += 1
                state.windows[key] = window
                state.totalSuppressed += 1
                return .suppress
            }
            if state.windows.count >= maxKeys { evict(&state, at: time) }
            state.windows[key] = Window(start: time, emitted: 1, suppressed: 0)
            return .emit(suppressedBefore: 0)
        }
    }

    /// Events suppressed since the limiter was created, over all keys.
    public var totalSuppressed: Int { state.withLock { $0.totalSuppressed } }

    /// Keys with suppressed events not yet reported by a later emitted event, with their counts;
    /// the counts are reset. Call it at shutdown or periodically to log what was held back.
    public func drainSuppressed() -> [(key: String, count: Int)] {
        state.withLock { state in
            var result: [(key: String, count: Int)] = []
            for (key, window) in state.windows where window.suppressed > 0 {
                result.append((key, window.suppressed))
                state.windows[key]!.suppressed = 0
            }
            return result.sorted { $0.key < $1.key }
        }
    }

    private func evict(_ state: inout State, at time: Duration) {
        let expired = state.windows.filter { time - $0.value.start >= interval }.map(\.key)
        for key in expired { state.windows[key] = nil }
        if state.windows.count >= maxKeys, let oldest = state.windows.min(by: { $0.value.start < $1.value.start }) {
            state.windows[oldest.key] = nil
        }
    }
}

/// A `Logger` whose lines pass through a ``LogRateLimiter`` keyed by the caller (e.g. the
/// malformed-message reason). A line emitted after suppression carries `log.suppressed=N`.
public struct RateLimitedLogger: Sendable {
    public var logger: Logger
    public let limiter: LogRateLimiter
    private let suppressedCounter: Counter?

    /// - Parameters:
    ///   - logger: Where emitted lines go.
    ///   - limiter: Decides which lines are emitted.
    ///   - suppressedCounter: Incremented for each suppressed line, if given.
    public init(logger: Logger, limiter: LogRateLimiter, suppressedCounter: Counter? = nil) {
        self.logger = logger
        self.limiter = limiter
        self.suppressedCounter = suppressedCounter
    }

    /// Logs unless `key` is over its rate; message and metadata are not built when suppressed.
    /// - Returns: Whether the line was emitted.
    @discardableResult
    public func log(
        level: Logger.Level, key: String, _ message: @autoclosure () -> Logger.Message,
        metadata: @autoclosure () -> Logger.Metadata? = nil,
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) -> Bool {
        guard logger.logLevel <= level else { return false }
        switch limiter.admit(key) {
        case .suppress:
            suppressedCounter?.increment()
            return false
        case .emit(let suppressedBefore):
            var fields = metadata() ?? [:]
            if suppressedBefore > 0 { fields["log.suppressed"] = "\(suppressedBefore)" }
            logger.log(level: level, message(), metadata: fields, file: file, function: function, line: line)
            return true
        }
    }

    /// ``log(level:key:_:metadata:file:function:line:)`` at warning level.
    @discardableResult
    public func warning(
        key: String, _ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata? = nil,
        file: String = #fileID, function: String = #function, line: UInt = #line
    ) -> Bool {
        log(level: .warning, key: key, message(), metadata: metadata(), file: file, function: function, line: line)
    }
}
