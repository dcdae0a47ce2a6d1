#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Logging
import ServiceLifecycle

/// A `Service` that sends `WATCHDOG=1` to systemd at half the unit's `WatchdogSec`, as long as
/// a health check passes.
///
/// systemd passes the timeout in `WATCHDOG_USEC` and the process it is meant for in
/// `WATCHDOG_PID`; pings are sent only when the PID is absent or this process's, and when
/// `NOTIFY_SOCKET` is set. Otherwise the service just waits for shutdown. On graceful shutdown
/// it returns; put it first in the service group so it is shut down last and keeps systemd
/// informed while the rest drains.
public struct SystemdWatchdog: Service {
    public let notifier: SystemdNotifier
    /// Time between pings, or `nil` when the watchdog is off.
    public let interval: Duration?
    private let isHealthy: @Sendable () -> Bool
    private let logger: Logger

    /// Creates a watchdog with an explicit interval (`nil` = off).
    /// - Parameters:
    ///   - isHealthy: Checked before each ping; when it returns `false` the ping is skipped, so a
    ///     stuck daemon (e.g. a trainer that stopped making progress) is restarted by systemd.
    public init(
        notifier: SystemdNotifier, interval: Duration?, logger: Logger,
        isHealthy: @escaping @Sendable () -> Bool = { true }
    ) {
        self.notifier = notifier
        self.interval = notifier.isEnabled ? interval : nil
        self.logger = logger
        self.isHealthy = isHealthy
    }

    /// Creates a watchdog configured from `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID`.
    public init(
        environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger,
        isHealthy: @escaping @Sendable () -> Bool = { true }
    ) {
        self.init(
            notifier: SystemdNotifier(environment: environment),
            interval: Self.pingInterval(environment: environment, processID: getpid()),
            logger: logger, isHealthy: isHealthy)
    }

    /// Half of `WATCHDOG_USEC` when it is set, positive, and meant for `processID`.
    public static func pingInterval(environment: [String: String], processID: Int32) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let microseconds = Int64(text), microseconds > 0 else { return nil }
        if let pidText = environment["WATCHDOG_PID"], !pidText.isEmpty {
            guard let pid = Int32(pidText), pid == processID else { return nil }
        }
        return .microseconds(microseconds / 2)
    }

    /// Pings until graceful shutdown or cancellation.
    public func run() async throws {
        guard let interval else {
            try? await gracefulShutdown()
            return
        }
        logger.info("systemd watchdog enabled", metadata: ["watchdog.interval_ms": "\(durationMilliseconds(interval))"])
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    ping()
                    try await Task.sleep(for: interval)
                }
            }
        } catch is CancellationError {
            return
        }
    }

    private func ping() {
        guard isHealthy() else {
            logger.warning("health check failed; withholding the systemd watchdog ping")
            return
        }
        do {
            try notifier.notify(.watchdog)
        } catch {
            logger.warning("systemd watchdog ping failed", metadata: ["error": "\(error)"])
        }
    }
}
