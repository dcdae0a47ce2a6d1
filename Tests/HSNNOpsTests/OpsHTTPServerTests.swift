import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization
import Testing
@testable import HSNNOps

final class ReadinessSwitch: Sendable {
    private let state = Mutex(Readiness.notReady("no partitions assigned"))
    var current: Readiness { state.withLock { $0 } }
    func set(_ readiness: Readiness) { state.withLock { $0 = readiness } }
}

struct SampleStatus: Encodable, Sendable {
    var modelVersion: Int
    var offsets: [String: Int64]
    var lastPublishAt: Date
}

struct StatusFailure: Error, CustomStringConvertible {
    var description: String { "board unavailable" }
}

@Suite struct OpsHTTPServerTests {
    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    @Test func servesAllEndpointsOverTCPAndStopsOnGracefulShutdown() async throws {
        let metrics = PrometheusMetrics()
        Counter(label: "hsnn_events_trained_total", dimensions: [("topic", "hsnn.events")], factory: metrics.factory)
            .increment(by: 42)
        let readiness = ReadinessSwitch()
        let server = OpsHTTPServer(
            binding: .init(host: "127.0.0.1", port: 0), metrics: metrics,
            readiness: { readiness.current },
            status: {
                SampleStatus(modelVersion: 7, offsets: ["hsnn.events/0": 120],
                             lastPublishAt: Date(timeIntervalSince1970: 1_700_000_000))
            },
            logger: logger)
        let group = ServiceGroup(services: [server], logger: logger)
        let running = Task { try await group.run() }

        let port = try await server.boundPort()
        #expect(port > 0)

        let health = try await httpGet(port: port, path: "/healthz")
        #expect(health.status == 200)
        #expect(health.body == "ok\n")

        let notReady = try await httpGet(port: port, path: "/readyz")
        #expect(notReady.status == 503)
        #expect(notReady.body == "not ready: no partitions assigned\n")
        readiness.set(.ready)
        let ready = try await httpGet(port: port, path: "/readyz")
        #expect(ready.status == 200)

        let scrape = try await httpGet(port: port, path: "/metrics")
        #expect(scrape.status == 200)
        #expect(scrape.headers["content-type"] == PrometheusMetrics.contentType)
        #expect(scrape.body.contains(#"hsnn_events_trained_total{topic="hsnn.events"} 42"#))
        #expect(scrape.body.contains("process_resident_memory_bytes"))

        let status = try await httpGet(port: port, path: "/status")
        #expect(status.status == 200)
        #expect(status.headers["content-type"] == "application/json")
        #expect(status.body == #"{"lastPublishAt":"2023-11-14T22:13:20Z","modelVersion":7,"offsets":{"hsnn.events/0":120}}"# + "\n")

        let missing = try await httpGet(port: port, path: "/nope")
        #expect(missing.status == 404)

        await group.triggerGracefulShutdown()
        try await running.value
        await #expect(throws: OpsHTTPServerError.self) { try await server.boundPort() }
    }

    @Test func statusErrorsBecome500() async throws {
        let server = OpsHTTPServer(
            binding: .init(host: "127.0.0.1", port: 0), metrics: PrometheusMetrics(includeProcessMetrics: false),
            readiness: { .ready }, status: { () async throws -> any Encodable in throw StatusFailure() }, logger: logger)
        let group = ServiceGroup(services: [server], logger: logger)
        let running = Task { try await group.run() }
        let port = try await server.boundPort()
        let reply = try await httpGet(port: port, path: "/status")
        #expect(reply.status == 500)
        #expect(reply.body == "status unavailable: board unavailable\n")
        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test func portInUseFailsWithAnActionableError() async throws {
        let first = OpsHTTPServer(
            binding: .init(host: "127.0.0.1", port: 0), metrics: PrometheusMetrics(includeProcessMetrics: false),
            readiness: { .ready }, status: { [String: String]() }, logger: logger)
        let group = ServiceGroup(services: [first], logger: logger)
        let running = Task { try await group.run() }
        let port = try await first.boundPort()

        let second = OpsHTTPServer(
            binding: .init(host: "127.0.0.1", port: port), metrics: PrometheusMetrics(includeProcessMetrics: false),
            readiness: { .ready }, status: { [String: String]() }, logger: logger)
        let waiter = Task { try await second.boundPort() }
        do {
            try await second.run()
            Issue.record("binding a port in use should fail")
        } catch let error as OpsHTTPServerError {
            #expect(error.code == .bindFailed)
            #expect(error.description.contains("127.0.0.1:\(port)"))
            #expect(error.description.contains("http.port"))
        }
        await #expect(throws: OpsHTTPServerError.self) { try await waiter.value }

        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test func bindingReadsHTTPSection() throws {
        let config = try ConfigLoader(schema: ConfigSchema(sections: [.http])).load(tomlText: "[http]\nhost = \"0.0.0.0\"\nport = 9999\n", fileName: "f.toml")
        #expect(OpsHTTPServer.Binding(config) == .init(host: "0.0.0.0", port: 9999))
    }
}

@Suite struct PrometheusMetricsTests {
    @Test func swiftMetricsAppearInTheExposition() {
        let metrics = PrometheusMetrics(includeProcessMetrics: false)
        let factory = metrics.factory
        Counter(label: "hsnn_malformed_total", dimensions: [("reason", "not_json")], factory: factory).increment(by: 3)
        Gauge(label: "hsnn_items_live", factory: factory).record(17)
        Timer(label: "hsnn_publish_seconds", factory: factory).recordMilliseconds(30)
        let text = metrics.exposition()
        #expect(text.contains("# TYPE hsnn_malformed_total counter"))
        #expect(text.contains(#"hsnn_malformed_total{reason="not_json"} 3"#))
        #expect(text.contains("hsnn_items_live 17"))
        #expect(text.contains(#"hsnn_publish_seconds_bucket{le="0.05"} 1"#))
        #expect(!text.contains("process_"))
        #expect(metrics.expositionBytes() == Array(metrics.exposition().utf8))
    }

    @Test func processMetricsAreReadFromProc() throws {
        #if os(Linux)
        let text = PrometheusMetrics().exposition()
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("process_resident_memory_bytes ") })
        let bytes = try #require(Double(line.split(separator: " ")[1]))
        #expect(bytes > 1_000_000)
        #expect(text.contains("process_open_fds "))
        #expect(text.contains("# TYPE process_cpu_seconds_total counter"))
        #endif
    }
}
