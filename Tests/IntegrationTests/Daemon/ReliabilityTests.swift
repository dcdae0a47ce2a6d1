import Foundation
import HSNNCheckpoint
import HSNNDaemon
import HSNNKafka
import HSNNOps
import HSNNPipeline
import Testing
import HSNNTestSupport

/// Readiness, lost records, quiet streams and publish retries, against librdkafka's mock cluster.
@Suite(.serialized) struct ReliabilityTests {
    func scratch() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("hsnn-reliability-\(UUID().uuidString)").path
    }

    /// `/readyz` follows the broker: a frozen broker (answers delayed far beyond the liveness
    /// timeout) or a broker that is down makes the daemon not ready, with the reason in
    /// `/status`, and errors are counted; it is ready again once the broker is back.
    @Test(.timeLimit(.minutes(5)))
    func readinessFollowsTheBrokerConnection() async throws {
        let cluster = try DaemonTestCluster(partitions: 1)
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try cluster.produceImpressions(0..<64)
        let settings = DaemonSettings(try cluster.configuration(checkpoints: dir, extra: ["kafka.liveness_timeout_ms=2000"]))
        let daemon = RunningDaemon(settings: settings, factory: RecordingFactory(sink: nil))
        try await daemon.wait("ready") { $0.ready }
        #expect(daemon.status.kafkaConnected)

        try cluster.cluster.setRoundTripTime(.seconds(30))
        try await daemon.wait(seconds: 20, "not ready while the broker is frozen") { !$0.ready }
        #expect(daemon.status.notReadyReason.contains("Kafka"), "\(daemon.status.notReadyReason)")
        try cluster.cluster.setRoundTripTime(.zero)
        try await daemon.wait(seconds: 90, "ready after the broker thawed") { $0.ready }

        try cluster.cluster.setBrokersDown()
        try await daemon.wait(seconds: 20, "not ready while the broker is down") { !$0.ready && $0.pollErrors > 0 }
        #expect(!daemon.status.kafkaConnected)
        try cluster.cluster.setBrokersUp()
        try await daemon.wait(seconds: 90, "ready after the broker came back") { $0.ready }
        try await daemon.stop()
    }

    /// Records deleted by the broker (the mock cluster keeps 5 MB per partition) before they
    /// were trained are counted, and the daemon goes on from the oldest record still held; with
    /// `kafka.on_data_loss = "fail"` it stops instead, its state ending before the gap.
    @Test(.timeLimit(.minutes(5)))
    func recordsSkippedByAnOffsetResetAreCounted() async throws {
        let cluster = try DaemonTestCluster(partitions: 1)
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sink = RecordSink()
        try cluster.produceImpressions(0..<100)
        let configuration = try cluster.configuration(checkpoints: dir, extra: ["training.max_batch_delay=200ms"])
        let first = RunningDaemon(settings: DaemonSettings(configuration), factory: RecordingFactory(sink: sink))
        try await first.wait("100 examples") { $0.pipeline.examplesTrained == 100 }
        try await first.stop()

        // About 8 MB: the oldest records, from offset 100 on, are deleted by the broker.
        try cluster.produceImpressions(100..<4_100, padding: 2_000)

        let failing = RunningDaemon(
            settings: DaemonSettings(try cluster.configuration(checkpoints: dir, extra: ["kafka.on_data_loss=fail"])),
            factory: RecordingFactory(sink: nil))
        try await failing.wait("the loss") { !$0.recordsLost.isEmpty }
        await #expect(throws: DataLossError.self) { try await failing.stop() }
        let store = try CheckpointStore(directory: URL(fileURLWithPath: dir), logger: testLogger("store"), create: false)
        #expect(try #require(try store.loadLatestVerified()).manifest.counters["events_trained"] == .int(100),
                "nothing after the gap was trained under on_data_loss = fail")

        let second = RunningDaemon(settings: DaemonSettings(configuration), factory: RecordingFactory(sink: sink))
        try await second.wait("the rest") { $0.offsets["hsnn.events/0"] == 4_100 && $0.pipeline.waitingInBatch == 0 }
        let lost = try #require(second.status.recordsLost["hsnn.events/0"])
        try await second.stop()
        #expect(lost > 0 && lost < 4_000, "lost \(lost)")
        let trained = Set(sink.all)
        #expect(sink.all.count == trained.count, "nothing trained twice")
        #expect(trained == Set((0..<100).map { "e\($0)" }).union((100 + Int(lost)..<4_100).map { "e\($0)" }),
                "exactly the records the broker still held were trained")
    }

    /// A partial batch is trained once it is older than `training.max_batch_delay` and nothing
    /// is queued; across a restart every event is still trained exactly once.
    @Test func aPartialBatchIsTrainedWhenTheStreamGoesQuiet() async throws {
        let cluster = try DaemonTestCluster(partitions: 2)
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sink = RecordSink()
        try cluster.produceImpressions(0..<101)
        let settings = DaemonSettings(try cluster.configuration(checkpoints: dir, extra: ["training.max_batch_delay=300ms"]))
        let first = RunningDaemon(settings: settings, factory: RecordingFactory(sink: sink))
        try await first.wait(seconds: 30, "all 101 examples, the last batch partial") { $0.pipeline.examplesTrained == 101 }
        try await first.stop()
        try cluster.produceImpressions(101..<150)
        let second = RunningDaemon(settings: settings, factory: RecordingFactory(sink: sink))
        try await second.wait(seconds: 30, "all 150") { $0.pipeline.examplesTrained == 150 }
        try await second.stop()
        #expect(sink.all.count == 150)
        #expect(Set(sink.all) == Set((0..<150).map { "e\($0)" }))
    }

    /// A failed publish is retried on a timer while no events arrive, and attempts are counted.
    @Test func aFailedPublishIsRetriedWithoutNewEvents() async throws {
        let cluster = try DaemonTestCluster(partitions: 1)
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try cluster.produceImpressions(0..<100)
        let failures = WriteFailures(2)
        let settings = DaemonSettings(try cluster.configuration(checkpoints: dir, extra: [
            "checkpoint.every_events=50", "checkpoint.retry_initial_ms=100", "checkpoint.retry_max_ms=400",
        ]))
        let daemon = RunningDaemon(settings: settings, factory: FailingWriteFactory(sink: nil, failures: failures))
        try await daemon.wait(seconds: 30, "a published version after two failures") { $0.modelVersion != nil }
        #expect(failures.attempted >= 3)
        #expect(daemon.status.publishAttempts >= 3)
        #expect(daemon.status.lastPublishError == nil)
        try await daemon.stop()
    }

    /// A restart with nothing new reports the restored counters from the start and publishes
    /// no new version when it stops.
    @Test func aRestartWithNothingNewPublishesNoVersion() async throws {
        let cluster = try DaemonTestCluster(partitions: 1)
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try cluster.produceImpressions(0..<64)
        let settings = DaemonSettings(try cluster.configuration(checkpoints: dir))
        let first = RunningDaemon(settings: settings, factory: RecordingFactory(sink: nil))
        try await first.wait("64 examples") { $0.pipeline.examplesTrained == 64 }
        try await first.stop()

        let second = RunningDaemon(settings: settings, factory: RecordingFactory(sink: nil))
        try await second.wait("the restored checkpoint") { $0.modelVersion == 1 }
        #expect(second.status.pipeline.examplesTrained == 64, "the restored counters are reported before any event")
        try await second.wait("the assignment") { !$0.assignedPartitions.isEmpty }
        try await second.stop()
        let store = try CheckpointStore(directory: URL(fileURLWithPath: dir), logger: testLogger("store"), create: false)
        #expect(try store.versions().map(\.number) == [1], "a stop with nothing new published a version")
        #expect(second.status.modelVersion == 1)
    }
}
