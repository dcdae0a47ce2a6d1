import Foundation
import HSNNDaemon
import Testing
import HSNNTestSupport

/// The package root, found from this file's path (Tests/HSNNDaemonTests/<file>).

/// `hsnn run` ends within `shutdown.grace_seconds` even when the broker does not answer.
@Suite struct ShutdownDeadlineTests {
    /// With the broker frozen (SIGSTOP), leaving the consumer group would wait for librdkafka's
    /// request timeout; the process ends at the deadline instead, with the final state saved
    /// (exit 0), saying so, and without a cancellation error from the HTTP listener.
    @Test(.enabled(if: HSNNExecutable.url != nil, Comment(rawValue: HSNNExecutable.missingMessage)))
    func aStopThatWaitsOnAFrozenBrokerEndsAtTheDeadline() async throws {
        let folder = try makeScratchFolder("hsnn-deadline")
        defer { try? FileManager.default.removeItem(at: folder) }
        let broker = try await DevBrokerProcess(partitions: 1, folder: folder)
        defer {
            broker.child.send(SIGCONT)
            broker.child.killIfRunning()
        }
        let daemon = try DaemonProcess("run", arguments: [
            "--config", packageRoot.appendingPathComponent("config/dev.toml").path,
            "--set", "kafka.brokers=\(broker.bootstrap)", "--set", "http.port=0", "--set", "log.level=info",
            "--set", "checkpoint.dir=\(folder.appendingPathComponent("checkpoints").path)",
            "--set", "shutdown.grace_seconds=2",
        ], log: folder.appendingPathComponent("run.log"))
        defer { daemon.child.killIfRunning() }
        let port = try await daemon.httpPort()
        try await daemon.waitForStatus(port: port, seconds: 60, "partitions assigned") { !$0.assignedPartitions.isEmpty }

        broker.child.send(SIGSTOP)
        daemon.child.send(SIGTERM)
        let exit = try await daemon.child.waitForExit(seconds: 60)
        broker.child.send(SIGCONT)

        let log = daemon.child.log()
        #expect(exit.reason == .exit && exit.status == 0, "\(exit)\n\(daemon.child.tail())")
        #expect(log.contains("shutdown.grace_seconds (2.0 seconds) elapsed while leaving the consumer group; the final state is saved"),
                "\(daemon.child.tail())")
        #expect(!log.contains("consumer closed"), "it waited for the frozen broker:\n\(daemon.child.tail())")
        #expect(!log.contains("CancellationError") && !log.contains("Server shutdown error"), "\(daemon.child.tail())")
        await broker.stop()
    }
}
