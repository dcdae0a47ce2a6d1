import Foundation
import HSNNCheckpoint
import HSNNDaemon
import HSNNKafka
import HSNNOps
import HSNNPipeline
import Testing
import HSNNTestSupport

/// What a graceful stop does when the final checkpoint cannot be written, and what a failed
/// start leaves behind.
@Suite(.serialized) struct ShutdownTests {
    func scratch() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("hsnn-shutdown-\(UUID().uuidString)").path
    }

    /// A final publish that fails twice is retried within the grace period and succeeds.
    @Test func aFailedFinalCheckpointIsRetried() async throws {
        let cluster = try DaemonTestCluster(partitions: 1)
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try cluster.produceImpressions(0..<100)
        let failures = WriteFailures(2)
        let settings = DaemonSettings(try cluster.configuration(checkpoints: dir, extra: ["shutdown.grace_seconds=10"]))
        let daemon = RunningDaemon(settings: settings, factory: FailingWriteFactory(sink: nil, failures: failures))
        try await daemon.wait("96 examples") { $0.pipeline.examplesTrained >= 96 }
        let trained = daemon.status.pipeline.examplesTrained
        try await daemon.stop()
        #expect(failures.attempted == 3)
        let store = try CheckpointStore(directory: URL(fileURLWithPath: dir), logger: testLogger("store"), create: false)
        let loaded = try #require(try store.loadLatestVerified())
        #expect(loaded.manifest.counters["events_trained"] == .int(daemon.status.pipeline.examplesTrained))
        #expect(daemon.status.pipeline.examplesTrained >= trained)
    }

    /// A final publish that keeps failing ends the daemon with ``FinalCheckpointError`` (exit
    /// status 75 from `hsnn run`), within the grace period.
    @Test func aFinalCheckpointThatKeepsFailingIsAnError() async throws {
        let cluster = try DaemonTestCluster(partitions: 1)
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try cluster.produceImpressions(0..<100)
        let failures = WriteFailures(.max)
        let settings = DaemonSettings(try cluster.configuration(checkpoints: dir, extra: ["shutdown.grace_seconds=4"]))
        let daemon = RunningDaemon(settings: settings, factory: FailingWriteFactory(sink: nil, failures: failures))
        try await daemon.wait("96 examples") { $0.pipeline.examplesTrained >= 96 }
        let start = ContinuousClock.now
        await #expect(throws: FinalCheckpointError.self) { try await daemon.stop() }
        #expect(start.duration(to: .now) < .seconds(4), "the retries stay within shutdown.grace_seconds")
        #expect(failures.attempted >= 2, "retried before giving up")
        #expect(FinalCheckpointError.exitCode != 0 && FinalCheckpointError.exitCode != 1)
    }

    /// When the start gate (the operations listener binding its port) fails, nothing is
    /// started: no checkpoint directory, no group membership.
    @Test func aFailedStartGateTouchesNothing() async throws {
        let cluster = try DaemonTestCluster(partitions: 1)
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let settings = DaemonSettings(try cluster.configuration(checkpoints: dir))
        struct PortTaken: Error {}
        let daemon = StreamTrainingService(settings: settings, factory: RecordingFactory(sink: nil), logger: testLogger("daemon"),
                                    startGate: { throw PortTaken() })
        await #expect(throws: PortTaken.self) { try await daemon.run() }
        #expect(!FileManager.default.fileExists(atPath: dir))
        #expect(daemon.status.current.assignedPartitions.isEmpty)
    }
}
