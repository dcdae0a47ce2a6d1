#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import ServiceLifecycle
import Testing
@testable import HSNNOps

/// A raw TCP connection to 127.0.0.1:port (blocking; use from `onThread`).
private final class RawConnection: @unchecked Sendable {
    // @unchecked: used by one thread at a time in these tests.
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw SocketTestError(description: "connect failed: errno \(errno)") }
    }

    deinit { close(fd) }

    func send(_ text: String) {
        _ = text.utf8CString.withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count - 1, Int32(MSG_NOSIGNAL)) }
    }

    /// Seconds until the server closes the connection (reading and discarding what it sends),
    /// or nil when it is still open after `limit` seconds.
    func secondsUntilClosed(limit: Double) -> Double? {
        let start = Date()
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date().timeIntervalSince(start) < limit {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { return Date().timeIntervalSince(start) }
        }
        return nil
    }
}

/// The operations listener closes slow, idle and surplus connections.
@Suite(.serialized) struct ConnectionLimitTests {
    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    private func withServer(_ limits: ConnectionLimits, _ body: @Sendable (Int) async throws -> Void) async throws {
        let server = OpsHTTPServer(
            binding: .init(host: "127.0.0.1", port: 0, limits: limits), metrics: PrometheusMetrics(),
            readiness: { .ready }, status: { ["ok": true] }, logger: logger)
        let group = ServiceGroup(services: [server], logger: logger)
        let running = Task { try await group.run() }
        let port = try await server.boundPort()
        do { try await body(port) } catch {
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            throw error
        }
        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test func aConnectionThatSendsNothingIsClosedAfterTheHeaderTimeout() async throws {
        try await withServer(ConnectionLimits(headerTimeout: .milliseconds(300), readTimeout: .seconds(5), idleTimeout: .seconds(30))) { port in
            let closedAfter = try await onThread { try RawConnection(port: port).secondsUntilClosed(limit: 5) }
            let seconds = try #require(closedAfter, "an idle connection stayed open for 5 s")
            #expect(seconds < 2)
        }
    }

    @Test func aSlowlorisHeaderIsClosedAfterTheHeaderTimeout() async throws {
        try await withServer(ConnectionLimits(headerTimeout: .milliseconds(500), readTimeout: .seconds(10), idleTimeout: .seconds(30))) { port in
            let closedAfter = try await onThread { () -> Double? in
                let connection = try RawConnection(port: port)
                let start = Date()
                connection.send("GET /healthz HTTP/1.1\r\n")
                for i in 0..<40 {
                    connection.send("X-Slow-\(i): 1\r\n")
                    if connection.secondsUntilClosed(limit: 0.1) != nil { return Date().timeIntervalSince(start) }
                }
                return nil
            }
            let seconds = try #require(closedAfter, "a header sent one line per 100 ms was held for 4 s")
            #expect(seconds < 2.5)
        }
    }

    @Test func aKeepAliveConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await withServer(ConnectionLimits(headerTimeout: .seconds(5), readTimeout: .seconds(5), idleTimeout: .milliseconds(400))) { port in
            let closedAfter = try await onThread { () -> Double? in
                let connection = try RawConnection(port: port)
                connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                return connection.secondsUntilClosed(limit: 4)
            }
            let seconds = try #require(closedAfter, "an idle keep-alive connection stayed open for 4 s")
            #expect(seconds < 2)
            // A request answered in time is served.
            #expect(try await httpGet(port: port, path: "/healthz").status == 200)
        }
    }

    @Test func connectionsBeyondTheCapAreClosedAtOnce() async throws {
        try await withServer(ConnectionLimits(headerTimeout: .seconds(20), readTimeout: .seconds(20), idleTimeout: .seconds(20), maxConnections: 3)) { port in
            let result = try await onThread { () -> (surplus: Double?, held: Double?) in
                let held = try (0..<3).map { _ in try RawConnection(port: port) }
                Thread.sleep(forTimeInterval: 0.3)
                let surplus = try RawConnection(port: port)
                let surplusClosed = surplus.secondsUntilClosed(limit: 2)
                let heldClosed = held[0].secondsUntilClosed(limit: 0.5)
                return (surplusClosed, heldClosed)
            }
            #expect(result.surplus != nil, "the fourth connection was kept open")
            #expect(result.held == nil, "a connection within the cap was closed")
            // Once they are gone, new connections are served again.
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await httpGet(port: port, path: "/healthz").status == 200)
        }
    }
}
