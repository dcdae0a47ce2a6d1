import CoreMetrics
import Synchronization

/// A swift-metrics backend that keeps what the bench reads back: counter totals, the last
/// value of gauges, and every timer value with the instant it was recorded.
final class BenchMetrics: MetricsFactory, Sendable {
    private struct State {
        var counters: [String: Int64] = [:]
        var gauges: [String: Double] = [:]
        var timers: [String: [(at: ContinuousClock.Instant, seconds: Double)]] = [:]
    }

    private let state = Mutex(State())
    /// Timer values kept per label; later ones are dropped.
    private static let timerLimit = 100_000

    /// Total of every counter called `label`, whatever its dimensions.
    func counter(_ label: String) -> Int64 { state.withLock { $0.counters[label] ?? 0 } }

    /// Last value recorded by a gauge or recorder called `label`.
    func gauge(_ label: String) -> Double? { state.withLock { $0.gauges[label] } }

    /// Every value (seconds) of timer `label` recorded before `cutoff`.
    func timerValues(_ label: String, before cutoff: ContinuousClock.Instant) -> [Double] {
        state.withLock { ($0.timers[label] ?? []).filter { $0.at < cutoff }.map(\.seconds) }
    }

    fileprivate func add(_ label: String, _ amount: Int64) { state.withLock { $0.counters[label, default: 0] += amount } }
    fileprivate func reset(_ label: String) { state.withLock { $0.counters[label] = 0 } }
    fileprivate func set(_ label: String, _ value: Double) { state.withLock { $0.gauges[label] = value } }
    fileprivate func time(_ label: String, _ nanoseconds: Int64) {
        let now = ContinuousClock.now
        state.withLock {
            if ($0.timers[label]?.count ?? 0) < Self.timerLimit {
                $0.timers[label, default: []].append((now, Double(nanoseconds) * 1e-9))
            }
        }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { Handler(label, self) }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { Handler(label, self) }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Handler(label, self) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    private final class Handler: CounterHandler, RecorderHandler, TimerHandler, Sendable {
        let label: String
        let metrics: BenchMetrics
        init(_ label: String, _ metrics: BenchMetrics) {
            self.label = label
            self.metrics = metrics
        }

        func increment(by amount: Int64) { metrics.add(label, amount) }
        func reset() { metrics.reset(label) }
        func record(_ value: Int64) { metrics.set(label, Double(value)) }
        func record(_ value: Double) { metrics.set(label, value) }
        func recordNanoseconds(_ duration: Int64) { metrics.time(label, duration) }
    }
}
