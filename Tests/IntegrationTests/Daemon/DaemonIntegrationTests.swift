import Foundation
import HSNNCheckpoint
import HSNNDaemon
import HSNNKafka
import HSNNOps
import HSNNPipeline
import Testing
import HSNNTestSupport

/// The daemon against librdkafka's mock cluster over TCP, with a recording learner.
@Suite(.serialized) struct DaemonIntegrationTests {
    func scratch() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hsnn-daemon-\(UUID().uuidString)").path
        return path
    }

    @Test func everyEventIsTrainedExactlyOnceAcrossARestart() async throws {
        let cluster = try DaemonTestCluster()
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sink = RecordSink()
        try cluster.produceImpressions(0..<2_000)
        try cluster.produceRaw(Array(#"{"type":"item","op":"upsert","item_id":"i1","ts_ms":1700000000000,"features":{"genre":["Action"]}}"#.utf8),
                               topic: "hsnn.items", key: Array("i1".utf8))
        try cluster.produceRaw(nil, topic: "hsnn.items", key: Array("i1".utf8))
        try cluster.flush()

        let settings = DaemonSettings(try cluster.configuration(checkpoints: dir))
        let first = RunningDaemon(settings: settings, factory: RecordingFactory(sink: sink))
        try await first.wait("2,000 examples") { $0.pipeline.examplesTrained == 2_000 && $0.pipeline.itemDeletes == 1 }
        try await first.stop()

        // The final checkpoint holds every offset.
        let store = try CheckpointStore(directory: URL(fileURLWithPath: dir), logger: testLogger("store"), create: false)
        let loaded = try #require(try store.loadLatestVerified())
        let eventOffsets = loaded.manifest.offsets.filter { $0.topic == "hsnn.events" }.map(\.nextOffset).reduce(0, +)
        #expect(eventOffsets == 2_000)
        #expect(loaded.manifest.counters["events_trained"] == .int(2_000))

        try cluster.produceImpressions(2_000..<3_000)
        let second = RunningDaemon(settings: settings, factory: RecordingFactory(sink: sink))
        try await second.wait("3,000 examples") { $0.pipeline.examplesTrained == 3_000 }
        try await second.stop()

        let trained = sink.all
        #expect(trained.count == 3_000)
        #expect(Set(trained).count == 3_000)
        #expect(Set(trained) == Set((0..<3_000).map { "e\($0)" }), "trained \(Set(trained).count) distinct")
    }

    @Test func malformedMessagesAreCountedByReasonAndSkipped() async throws {
        let cluster = try DaemonTestCluster(partitions: 1)
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sink = RecordSink()
        let bad: [(String, [UInt8]?)] = [
            ("not_json", Array("hello".utf8)),
            ("invalid_utf8", [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D]),
            ("unknown_type", Array(#"{"type":"purchase","event_id":"x"}"#.utf8)),
            ("missing_field", Array(#"{"type":"impression","event_id":"x","ts_ms":1}"#.utf8)),
            ("wrong_type", Array(#"{"type":"impression","event_id":"x","request_id":"r","ts_ms":"soon","user_id":"u","item_id":"i"}"#.utf8)),
            ("non_finite_number", Array(#"{"type":"item","op":"upsert","item_id":"i","ts_ms":1,"features":{"p":1e999}}"#.utf8)),
            ("future_timestamp", Array(#"{"type":"click","event_id":"x","request_id":"r","ts_ms":9999999999999,"user_id":"u","item_id":"i"}"#.utf8)),
            ("too_large", Array(repeating: 0x20, count: 70_000) + Array("{}".utf8)),
            ("empty", []),
            ("not_object", Array("[1,2]".utf8)),
            ("tombstone_outside_catalog", nil),
        ]
        try cluster.produceImpressions(0..<100)
        for (_, value) in bad { try cluster.produceRaw(value) }
        try cluster.produceImpressions(100..<200)
        try cluster.flush()

        let settings = DaemonSettings(try cluster.configuration(checkpoints: dir, extra: ["kafka.dead_letter_topic=hsnn.dlq"]))
        let daemon = RunningDaemon(settings: settings, factory: RecordingFactory(sink: sink))
        try await daemon.wait("200 examples and 11 skipped") { $0.pipeline.examplesTrained == 200 && $0.pipeline.skippedMalformed == Int64(bad.count) }
        let malformed = daemon.status.malformed
        try await daemon.stop()
        for (reason, _) in bad { #expect(malformed[reason] == 1, "reason \(reason): \(malformed)") }
        #expect(Set(sink.all).count == 200)
    }

    /// librdkafka's mock cluster refuses offset commits while a group rebalances (a real broker
    /// accepts them while the group prepares to rebalance, which is when the revocation
    /// callback commits), so each member here also publishes and commits every second: the
    /// hand-offs below happen while the members are idle and fully committed.
    @Test func aSecondDaemonTakesOverPartitionsWithNothingLostOrTrainedTwice() async throws {
        let cluster = try DaemonTestCluster(partitions: 4)
        let dirA = scratch(), dirB = scratch()
        defer { try? FileManager.default.removeItem(atPath: dirA); try? FileManager.default.removeItem(atPath: dirB) }
        let sink = RecordSink()
        try cluster.produceImpressions(0..<1_000)
        let cadence = ["checkpoint.every_seconds=1"]
        let a = RunningDaemon(settings: DaemonSettings(try cluster.configuration(checkpoints: dirA, extra: cadence)), factory: RecordingFactory(sink: sink))
        try await a.wait("first 1,000") { $0.pipeline.examplesTrained == 1_000 }
        try await Task.sleep(for: .seconds(2))  // A's cadence publishes and commits
        let b = RunningDaemon(settings: DaemonSettings(try cluster.configuration(checkpoints: dirB, extra: cadence)), factory: RecordingFactory(sink: sink))
        try await b.wait(seconds: 90, "B to own partitions") { !$0.assignedPartitions.isEmpty }
        try cluster.produceImpressions(1_000..<3_000)
        let deadline = ContinuousClock.now + .seconds(90)
        while a.status.pipeline.examplesTrained + b.status.pipeline.examplesTrained < 3_000, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        try await Task.sleep(for: .seconds(2))  // both idle and committed before B leaves
        try await b.stop()
        try await a.stop()
        let trained = sink.all
        let expected = Set((0..<3_000).map { "e\($0)" })
        #expect(trained.count == 3_000, "trained \(trained.count) (A \(a.status.pipeline.examplesTrained), B \(b.status.pipeline.examplesTrained))")
        #expect(Set(trained) == expected, "missing \(expected.subtracting(trained).count)")
        #expect(b.status.pipeline.examplesTrained > 0)
    }

    @Test func aBrokerOutagePausesConsumptionThenResumesWithNothingLost() async throws {
        let cluster = try DaemonTestCluster(partitions: 2)
        let dir = scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sink = RecordSink()
        try cluster.produceImpressions(0..<512)
        let daemon = RunningDaemon(settings: DaemonSettings(try cluster.configuration(checkpoints: dir)), factory: RecordingFactory(sink: sink))
        try await daemon.wait("first 512") { $0.pipeline.examplesTrained == 512 }
        try cluster.cluster.setBrokersDown()
        try await Task.sleep(for: .seconds(3))
        let duringOutage = daemon.status.pipeline.examplesTrained
        try cluster.cluster.setBrokersUp()
        try cluster.produceImpressions(512..<1_024)
        try await daemon.wait(seconds: 90, "all 1,024 after the outage") { $0.pipeline.examplesTrained == 1_024 }
        try await daemon.stop()
        #expect(duringOutage == 512)
        #expect(sink.all.count == 1_024)
        #expect(Set(sink.all).count == 1_024)
    }
}
