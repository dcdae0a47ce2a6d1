#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing
@testable import HSNNOps

@Suite struct SystemdNotifierTests {
    func temporarySocketPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("hsnn-notify-\(UUID().uuidString.prefix(8)).sock").path
    }

    @Test func sendsExactMessagesToAFilesystemSocket() throws {
        let path = temporarySocketPath()
        let receiver = try DatagramReceiver(path: path)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        #expect(notifier.isEnabled)
        try notifier.notify([.ready, .status("consuming hsnn.events\nfrom 3 partitions")])
        try notifier.notify(.watchdog)
        try notifier.notify(.extendTimeout(.seconds(20)))
        try notifier.notify([.stopping, .status("draining")])
        try notifier.notify(.errno(5))
        #expect(receiver.drain() == [
            "READY=1\nSTATUS=consuming hsnn.events from 3 partitions\n",
            "WATCHDOG=1\n",
            "EXTEND_TIMEOUT_USEC=20000000\n",
            "STOPPING=1\nSTATUS=draining\n",
            "ERRNO=5\n",
        ])
    }

    @Test func sendsToAnAbstractSocket() throws {
        let name = "@hsnn-test-\(getpid())-\(UUID().uuidString.prefix(8))"
        let receiver = try DatagramReceiver(path: name)
        try SystemdNotifier(socketPath: name).notify([.reloading, .watchdogTrigger])
        #expect(receiver.drain() == ["RELOADING=1\nWATCHDOG=trigger\n"])
    }

    @Test func unsetSocketIsANoOp() throws {
        let notifier = SystemdNotifier(environment: [:])
        #expect(!notifier.isEnabled)
        try notifier.notify(.ready)
        #expect(!SystemdNotifier(socketPath: "").isEnabled)
    }

    @Test func unusableAddressesFailWithTheAddress() {
        #expect(throws: SystemdNotifyError.self) { try SystemdNotifier(socketPath: "relative/path").notify(.ready) }
        #expect(throws: SystemdNotifyError.self) {
            try SystemdNotifier(socketPath: "/" + String(repeating: "x", count: 200)).notify(.ready)
        }
        let missing = "/nonexistent-dir/notify.sock"
        do {
            try SystemdNotifier(socketPath: missing).notify(.ready)
            Issue.record("sending to a missing socket should fail")
        } catch {
            #expect(error.socketPath == missing)
            #expect(error.description.contains("sendto"))
        }
    }
}

final class HealthFlag: Sendable {
    private let state = Mutex(true)
    var isHealthy: Bool { state.withLock { $0 } }
    func set(_ value: Bool) { state.withLock { $0 = value } }
}

@Suite struct SystemdWatchdogTests {
    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    @Test func intervalIsHalfOfWatchdogUsecForThisProcess() {
        let pid: Int32 = 4242
        #expect(SystemdWatchdog.pingInterval(environment: ["WATCHDOG_USEC": "30000000"], processID: pid) == .seconds(15))
        #expect(SystemdWatchdog.pingInterval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "4242"], processID: pid)
            == .seconds(15))
        #expect(SystemdWatchdog.pingInterval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"], processID: pid) == nil)
        #expect(SystemdWatchdog.pingInterval(environment: ["WATCHDOG_USEC": "0"], processID: pid) == nil)
        #expect(SystemdWatchdog.pingInterval(environment: ["WATCHDOG_USEC": "soon"], processID: pid) == nil)
        #expect(SystemdWatchdog.pingInterval(environment: [:], processID: pid) == nil)
    }

    @Test func pingsUntilGracefulShutdownAndSkipsWhenUnhealthy() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hsnn-wd-\(UUID().uuidString.prefix(8)).sock").path
        let receiver = try DatagramReceiver(path: path)
        let healthy = HealthFlag()
        let watchdog = SystemdWatchdog(
            environment: ["NOTIFY_SOCKET": path, "WATCHDOG_USEC": "40000", "WATCHDOG_PID": "\(getpid())"],
            logger: logger, isHealthy: { healthy.isHealthy })
        #expect(watchdog.interval == .milliseconds(20))
        let group = ServiceGroup(services: [watchdog], logger: logger)
        let running = Task { try await group.run() }

        var received: [String] = []
        let deadline = ContinuousClock.now + .seconds(30)  // generous: CI machines are shared
        while received.count < 3 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
            received += receiver.drain()
        }
        #expect(received.count >= 3)
        #expect(Set(received) == ["WATCHDOG=1\n"])

        healthy.set(false)
        try await Task.sleep(for: .milliseconds(50))  // any ping in flight lands
        _ = receiver.drain()
        try await Task.sleep(for: .milliseconds(100))  // five intervals
        #expect(receiver.drain().isEmpty)

        await group.triggerGracefulShutdown()
        try await running.value
    }

    @Test func disabledWatchdogWaitsForShutdown() async throws {
        let watchdog = SystemdWatchdog(environment: ["WATCHDOG_USEC": "1000000"], logger: logger)  // no NOTIFY_SOCKET
        #expect(watchdog.interval == nil)
        let group = ServiceGroup(services: [watchdog], logger: logger)
        let running = Task { try await group.run() }
        try await Task.sleep(for: .milliseconds(50))
        await group.triggerGracefulShutdown()
        try await running.value
    }
}
