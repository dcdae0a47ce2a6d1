#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Metrics
import Prometheus
import Synchronization

/// A Prometheus registry backing swift-metrics, plus its text exposition for `/metrics`.
///
/// Metric names from swift-metrics labels are made Prometheus-safe by the registry (`.` becomes
/// `_`). One name must always be used with the same metric type and the same label names
/// (with or without dimensions); the registry stops the program otherwise.
public final class PrometheusMetrics: Sendable {
    /// `Content-Type` of ``exposition()``.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public let registry: PrometheusCollectorRegistry
    public let factory: PrometheusMetricsFactory
    private let processMetrics: ProcessMetrics?

    /// Creates metrics backed by `registry`.
    /// - Parameters:
    ///   - registry: The registry; a fresh one by default (tests use their own).
    ///   - timerBuckets: Histogram buckets for swift-metrics `Timer`s by label; others use the factory defaults.
    ///   - summaryBuckets: Histogram buckets for swift-metrics `Recorder`s (aggregating) by label.
    ///   - includeProcessMetrics: Export `process_resident_memory_bytes`, `process_cpu_seconds_total`,
    ///     `process_open_fds` and friends, refreshed at each exposition (Linux only).
    public init(
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        timerBuckets: [String: [Duration]] = [:], summaryBuckets: [String: [Double]] = [:],
        includeProcessMetrics: Bool = true
    ) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = timerBuckets
        factory.valueHistogramBuckets = summaryBuckets
        self.factory = factory
        self.processMetrics = includeProcessMetrics ? ProcessMetrics(registry: registry) : nil
    }

    /// Every registered metric in the Prometheus text format (version 0.0.4).
    public func exposition() -> String {
        processMetrics?.refresh()
        return registry.emitToString()
    }

    /// ``exposition()`` as UTF-8 bytes.
    public func expositionBytes() -> [UInt8] {
        processMetrics?.refresh()
        return registry.emitToBuffer()
    }

    private static let bootstrapped = Mutex<PrometheusMetrics?>(nil)

    /// Makes these metrics the process-wide swift-metrics backend, once: `MetricsSystem` can be
    /// bootstrapped only once per process, so later calls return the first instance unchanged.
    /// - Returns: The metrics now behind every `Counter`, `Gauge`, `Timer` and `Recorder`.
    @discardableResult
    public static func bootstrap(_ metrics: @autoclosure () -> PrometheusMetrics = PrometheusMetrics()) -> PrometheusMetrics {
        bootstrapped.withLock { current in
            if let current { return current }
            let fresh = metrics()
            MetricsSystem.bootstrap(fresh.factory)
            current = fresh
            return fresh
        }
    }
}

/// Standard `process_*` metrics read from `/proc/self`, refreshed on demand.
private final class ProcessMetrics: Sendable {
    private let residentBytes: Prometheus.Gauge
    private let virtualBytes: Prometheus.Gauge
    private let openFileDescriptors: Prometheus.Gauge
    private let startTimeSeconds: Prometheus.Gauge
    private let cpuSeconds: Prometheus.Counter
    private let lastCPUSeconds = Mutex<Double>(0)

    init?(registry: PrometheusCollectorRegistry) {
        #if os(Linux)
        func descriptor(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "process", metricName: name, unitName: unit, helpText: help)
        }
        residentBytes = registry.makeGauge(descriptor: descriptor("resident_memory", "bytes", "Resident memory size in bytes."))
        virtualBytes = registry.makeGauge(descriptor: descriptor("virtual_memory", "bytes", "Virtual memory size in bytes."))
        openFileDescriptors = registry.makeGauge(descriptor: descriptor("open", "fds", "Number of open file descriptors."))
        startTimeSeconds = registry.makeGauge(
            descriptor: descriptor("start_time", "seconds", "Start time of the process since unix epoch in seconds."))
        cpuSeconds = registry.makeCounter(
            descriptor: descriptor("cpu_seconds", "total", "Total user and system CPU time spent in seconds."))
        refresh()
        #else
        return nil
        #endif
    }

    func refresh() {
        #if os(Linux)
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let afterName = stat.lastIndex(of: ")") else { return }
        // Fields after the parenthesised command name, starting with field 3 (state).
        let fields = stat[stat.index(after: afterName)...].split(separator: " ")
        func field(_ number: Int) -> Double? { fields.count > number - 3 ? Double(fields[number - 3]) : nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let utime = field(14), let stime = field(15), ticks > 0 {
            let total = (utime + stime) / ticks
            let delta = lastCPUSeconds.withLock { last -> Double in
                let delta = total - last
                if delta > 0 { last = total }
                return delta
            }
            if delta > 0 { cpuSeconds.increment(by: delta) }
        }
        if let vsize = field(23) { virtualBytes.set(vsize) }
        if let rss = field(24) { residentBytes.set(rss * pageSize) }
        if let start = field(22), ticks > 0, let uptime = try? String(contentsOfFile: "/proc/uptime", encoding: .utf8),
           let uptimeSeconds = uptime.split(separator: " ").first.flatMap({ Double($0) }) {
            let bootTime = Date().timeIntervalSince1970 - uptimeSeconds
            startTimeSeconds.set((bootTime + start / ticks).rounded())
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            openFileDescriptors.set(Double(entries.count))
        }
        #endif
    }
}
