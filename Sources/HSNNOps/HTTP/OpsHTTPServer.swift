import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Whether the daemon should receive traffic, with the reason when it should not.
public struct Readiness: Sendable, Hashable {
    public var isReady: Bool
    /// Why the daemon is not ready (shown in the `/readyz` body); empty when ready.
    public var reason: String

    public init(isReady: Bool, reason: String) {
        self.isReady = isReady
        self.reason = reason
    }

    public static let ready = Readiness(isReady: true, reason: "")
    public static func notReady(_ reason: String) -> Readiness { Readiness(isReady: false, reason: reason) }
}

/// Why the operations HTTP server could not run.
public struct OpsHTTPServerError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        /// The listener could not be bound (address in use, no permission, unknown host).
        case bindFailed
        /// The server stopped (or never started) before the caller got its address.
        case notRunning
    }

    public let code: Code
    public let message: String

    public var description: String { message }
}

/// The operations HTTP listener, run as a swift-service-lifecycle `Service`:
///
/// - `GET /metrics`: Prometheus text exposition of ``PrometheusMetrics``.
/// - `GET /healthz`: `200 ok` while the process serves requests.
/// - `GET /readyz`: `200 ready` when the readiness closure says so, else `503` with the reason.
/// - `GET /status`: JSON from the status closure (`500` with the error if it throws).
///
/// Connections are limited by ``ConnectionLimits``: a request head or a whole request that
/// arrives too slowly, or a connection idle between requests too long, is closed, and
/// connections beyond the cap are closed when accepted.
///
/// Bind with port 0 for an ephemeral port and read it with ``boundPort()``. The server stops
/// on graceful shutdown of its service group; put it first in the group's service list so it
/// is shut down last and `/metrics` stays scrapeable while the rest drains.
public final class OpsHTTPServer: Service, Sendable {
    /// Where the listener binds.
    public struct Binding: Sendable, Hashable {
        public var host: String
        /// 0 picks a free port.
        public var port: Int
        /// Timeouts and the connection cap.
        public var limits: ConnectionLimits

        public init(host: String, port: Int, limits: ConnectionLimits = ConnectionLimits()) {
            self.host = host
            self.port = port
            self.limits = limits
        }

        /// `http.*` from a configuration whose schema has the ``ConfigSection/http`` section.
        public init(_ configuration: Configuration) {
            self.init(
                host: configuration.string("http.host"), port: configuration.int("http.port"),
                limits: ConnectionLimits(
                    headerTimeout: configuration.duration("http.header_timeout_ms"),
                    readTimeout: configuration.duration("http.read_timeout_ms"),
                    idleTimeout: configuration.duration("http.idle_timeout_ms"),
                    maxConnections: configuration.int("http.max_connections")))
        }
    }

    private enum State {
        case starting(waiters: [CheckedContinuation<Int, any Error>])
        case listening(port: Int)
        case stopped
    }

    public let binding: Binding
    private let metrics: PrometheusMetrics
    private let readiness: @Sendable () async -> Readiness
    private let status: @Sendable () async throws -> any Encodable
    private let logger: Logger
    private let state = Mutex(State.starting(waiters: []))

    /// Creates the server; nothing is bound until ``run()``.
    /// - Parameters:
    ///   - binding: Host and port (`http.host`, `http.port`).
    ///   - metrics: Registry exposed on `/metrics`.
    ///   - readiness: Answers `/readyz`; called per request, keep it cheap.
    ///   - status: Produces the `/status` document; encoded with sorted keys and ISO 8601 dates.
    ///   - logger: Used for the listener's own messages (bound address, failures).
    public init(
        binding: Binding, metrics: PrometheusMetrics,
        readiness: @escaping @Sendable () async -> Readiness,
        status: @escaping @Sendable () async throws -> any Encodable,
        logger: Logger
    ) {
        self.binding = binding
        self.metrics = metrics
        self.readiness = readiness
        self.status = status
        self.logger = logger
    }

    /// Binds and serves until graceful shutdown or cancellation.
    /// - Throws: ``OpsHTTPServerError`` with code `bindFailed` when the address cannot be bound.
    public func run() async throws {
        let limits = binding.limits
        let counter = ConnectionCounter(limit: limits.maxConnections)
        let application = Application(
            router: makeRouter(),
            server: HTTPServerBuilder { responder in
                GuardedHTTP1Channel(responder: responder, limits: limits, counter: counter)
            },
            configuration: ApplicationConfiguration(address: .hostname(binding.host, port: binding.port)),
            onServerRunning: { [self] channel in
                self.didBind(port: channel.localAddress?.port ?? binding.port)
            },
            logger: logger
        )
        do {
            try await application.run()
        } catch {
            let wasListening = state.withLock { if case .listening = $0 { true } else { false } }
            let failure: any Error = wasListening ? error : OpsHTTPServerError(
                code: .bindFailed,
                message: "cannot listen on \(binding.host):\(binding.port) (\(error)); set http.host/http.port "
                    + "to a free local address, or http.port = 0 for any free port")
            didStop(error: failure)
            throw failure
        }
        didStop(error: OpsHTTPServerError(code: .notRunning, message: "the operations HTTP server stopped before it was bound"))
    }

    /// The TCP port the server listens on, waiting until it is bound.
    /// - Throws: ``OpsHTTPServerError`` when binding failed or the server stopped first.
    public func boundPort() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let immediate: Result<Int, OpsHTTPServerError>? = state.withLock { state in
                switch state {
                case .starting(var waiters):
                    waiters.append(continuation)
                    state = .starting(waiters: waiters)
                    return nil
                case .listening(let port):
                    return .success(port)
                case .stopped:
                    return .failure(OpsHTTPServerError(code: .notRunning, message: "the operations HTTP server is not running"))
                }
            }
            if let immediate { continuation.resume(with: immediate) }
        }
    }

    private func didBind(port: Int) {
        let waiters = state.withLock { state -> [CheckedContinuation<Int, any Error>] in
            guard case .starting(let waiters) = state else { return [] }
            state = .listening(port: port)
            return waiters
        }
        logger.info("operations HTTP listening", metadata: ["http.host": "\(binding.host)", "http.port": "\(port)"])
        for waiter in waiters { waiter.resume(returning: port) }
    }

    private func didStop(error: any Error) {
        let waiters = state.withLock { state -> [CheckedContinuation<Int, any Error>] in
            defer { state = .stopped }
            if case .starting(let waiters) = state { return waiters }
            return []
        }
        for waiter in waiters { waiter.resume(throwing: error) }
    }

    private func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        let metrics = self.metrics
        let readiness = self.readiness
        let status = self.status
        router.get("metrics") { _, _ -> Response in
            Self.response(.ok, contentType: PrometheusMetrics.contentType, bytes: metrics.expositionBytes())
        }
        router.get("healthz") { _, _ -> Response in
            Self.response(.ok, contentType: "text/plain; charset=utf-8", text: "ok\n")
        }
        router.get("readyz") { _, _ -> Response in
            let answer = await readiness()
            if answer.isReady { return Self.response(.ok, contentType: "text/plain; charset=utf-8", text: "ready\n") }
            let reason = answer.reason.isEmpty ? "not ready" : answer.reason
            return Self.response(.serviceUnavailable, contentType: "text/plain; charset=utf-8", text: "not ready: \(reason)\n")
        }
        router.get("status") { _, _ -> Response in
            do {
                let document = try await status()
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                encoder.dateEncodingStrategy = .iso8601
                var bytes = Array(try encoder.encode(document))
                bytes.append(UInt8(ascii: "\n"))
                return Self.response(.ok, contentType: "application/json", bytes: bytes)
            } catch {
                return Self.response(.internalServerError, contentType: "text/plain; charset=utf-8",
                                     text: "status unavailable: \(error)\n")
            }
        }
        return router
    }

    private static func response(_ status: HTTPResponse.Status, contentType: String, text: String) -> Response {
        response(status, contentType: contentType, bytes: Array(text.utf8))
    }

    private static func response(_ status: HTTPResponse.Status, contentType: String, bytes: [UInt8]) -> Response {
        var buffer = ByteBuffer()
        buffer.writeBytes(bytes)
        return Response(
            status: status,
            headers: [.contentType: contentType, .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: buffer))
    }
}
