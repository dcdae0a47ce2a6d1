import Foundation
import HSNNEvents
import HSNNKafka
import HSNNOps
import HSNNPipeline
import HSNNSupport
import Testing
@testable import HSNNDaemon
import HSNNTestSupport

/// The poller against the mock cluster, with a trainer played by the test. Checks what
/// happened (pause, resume, every record once and in order), never how long it took.
@Suite(.serialized) struct IngestPollerTests {
    @Test func pausesWhenTheTrainerStallsThenResumesWithNothingLostOrRepeated() async throws {
        let partitions = 2
        let records = 400
        let cluster = try DaemonTestCluster(partitions: partitions)
        try cluster.produceImpressions(0..<records)
        let consumer = try KafkaConsumer(
            configuration: KafkaConsumerConfiguration(
                bootstrapServers: cluster.cluster.bootstrapServers, groupID: "poller-test", properties: fastGroupProperties),
            logger: testLogger("consumer"))
        try consumer.subscribe(topics: ["hsnn.events"])
        let queue = IngestQueue<IngestItem>(capacity: 16)
        let status = DaemonStatusBoard()
        let poller = IngestPoller(
            consumer: consumer, queue: queue,
            decoder: KafkaRecordDecoder(decoder: EventDecoder(), catalogTopic: "hsnn.items"),
            pollTimeout: .milliseconds(50), pauseAfter: .milliseconds(100), status: status,
            logger: testLogger("poller"), deadLetter: nil)
        poller.start()

        // Nobody takes: the queue fills, the poller waits on it, then pauses its partitions.
        try await waitFor("the poller to pause its partitions") { status.current.pausedForBackpressure }
        #expect(queue.count == queue.capacity)
        #expect(status.current.backpressurePauses == 1)

        // The trainer comes back: everything arrives, the partitions resume.
        let taken = try await onDedicatedThread { () -> [IngestItem] in
            var taken: [IngestItem] = []
            let deadline = Date().addingTimeInterval(60)
            while taken.count < records, Date() < deadline {
                taken += queue.take(max: 7, timeout: 0.2)
            }
            return taken
        }
        try await waitFor("the poller to resume") { !status.current.pausedForBackpressure }
        try await onDedicatedThread {
            poller.stop()
            try consumer.close()
        }

        var offsets: [Int32: [Int64]] = [:]
        for item in taken { offsets[item.partition.partition, default: []].append(item.offset) }
        #expect(taken.count == records)
        for partition in 0..<Int32(partitions) {
            #expect(offsets[partition] == Array(0..<Int64(records / partitions)), "partition \(partition)")
        }
    }

    /// The catalog's records are large and dense in event time, the events' small and sparse:
    /// left to librdkafka's fetch pacing, the events would be read hours of event time ahead of
    /// the catalog. Each impression must come after every catalog record older than it by more
    /// than the allowed lead.
    @Test(arguments: [true, false])
    func eventsWaitForACatalogThatFellBehind(aligned: Bool) async throws {
        let cluster = try DaemonTestCluster(partitions: 2)
        let base: Int64 = 1_700_000_000_000, minute: Int64 = 60_000
        let upserts = 4_000, impressions = 400
        let pad = String(repeating: "x", count: 900)
        for j in 0..<upserts {
            let json = #"{"type":"item","op":"upsert","item_id":"i\#(j)","ts_ms":\#(base + Int64(j) * minute / 10),"features":{"genre":"\#(pad)"}}"#
            try cluster.producer.send(topic: "hsnn.items", key: Array("i\(j)".utf8), value: Array(json.utf8), partition: 0)
        }
        for i in 0..<impressions {
            let json = #"{"type":"impression","event_id":"e\#(i)","request_id":"r\#(i)","ts_ms":\#(base + Int64(i) * minute),"user_id":"u\#(i % 37)","item_id":"i\#(i * 10)","clicked":false}"#
            try cluster.producer.send(topic: "hsnn.events", key: Array("u\(i % 37)".utf8), value: Array(json.utf8), partition: Int32(i % 2))
        }
        try cluster.flush()
        var configuration = KafkaConsumerConfiguration(
            bootstrapServers: cluster.cluster.bootstrapServers, groupID: "catalog-first", properties: fastGroupProperties)
        configuration.reportsPartitionEnd = true  // as the daemon's consumer
        let handler = AssignmentForwarder()
        let consumer = try KafkaConsumer(configuration: configuration, rebalanceHandler: handler, logger: testLogger("consumer"))
        try consumer.subscribe(topics: ["hsnn.events", "hsnn.items"])
        let queue = IngestQueue<IngestItem>(capacity: 8_192)
        let lead = Duration.seconds(300)
        let poller = IngestPoller(
            consumer: consumer, queue: queue,
            decoder: KafkaRecordDecoder(decoder: EventDecoder(), catalogTopic: "hsnn.items"),
            pollTimeout: .milliseconds(50), pauseAfter: .seconds(3), catalogLead: aligned ? lead : nil,
            status: DaemonStatusBoard(), logger: testLogger("poller"), deadLetter: nil)
        handler.poller.withLock { $0 = poller }
        poller.start()
        let taken = try await onDedicatedThread { () -> [IngestItem] in
            var taken: [IngestItem] = []
            let deadline = Date().addingTimeInterval(60)
            while taken.count < upserts + impressions, Date() < deadline {
                taken += queue.take(max: 64, timeout: 0.2)
            }
            return taken
        }
        try await onDedicatedThread {
            poller.stop()
            try consumer.close()
        }
        #expect(taken.count == upserts + impressions)
        // How far each impression ran ahead (event time) of the catalog read before it: of the
        // newest catalog record, or of the catalog's first record when none was read yet
        // (records a partition delivers after its pause took effect are held back too).
        var catalogTime: Int64?
        var worstLead: Int64 = 0, beforeAnyCatalog = 0
        for item in taken {
            guard case .event(let event) = item.payload else { continue }
            switch event {
            case .item(let upsert): catalogTime = max(catalogTime ?? .min, upsert.timestampMs)
            default:
                if catalogTime == nil { beforeAnyCatalog += 1 }
                worstLead = max(worstLead, event.timestampMs - (catalogTime ?? base))
            }
        }
        if aligned {
            #expect(worstLead <= lead.inMilliseconds, "an impression was read \(worstLead / minute) minutes ahead of the catalog")
            #expect(beforeAnyCatalog == 0)
        } else {
            // Without the limit the records come in fetch order, far ahead (what the test guards against).
            #expect(worstLead > lead.inMilliseconds, """
                the fetch pacing no longer puts events ahead of the catalog (at most \(worstLead / minute) minutes, \
                \(beforeAnyCatalog) impressions before any catalog record); the test needs a larger catalog
                """)
        }
    }

    private func waitFor(_ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting for \(what)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

@Suite struct DaemonSettingsValidationTests {
    @Test func pauseAfterMustStayWellBelowTheMaxPollInterval() throws {
        func settings(_ overrides: [String]) throws -> DaemonSettings {
            DaemonSettings(try ConfigLoader(schema: .hsnn).load(file: nil, environment: [:], overrides: overrides))
        }
        try settings([]).validate()
        try settings(["kafka.properties.max.poll.interval.ms=10000", "ingest.pause_after_ms=5000"]).validate()

        let error = try #require(throws: DaemonSettingsError.self) {
            try settings(["kafka.properties.max.poll.interval.ms=4000", "ingest.pause_after_ms=3000"]).validate()
        }
        #expect(error.keys == ["ingest.pause_after_ms", "kafka.properties.max.poll.interval.ms"])
        #expect(error.description.contains("at most 2000 ms"))
    }
}

/// Tells the poller of assignment changes, as the daemon's rebalance coordinator does.
private final class AssignmentForwarder: KafkaRebalanceHandler {
    let poller = Locked<IngestPoller?>(nil)

    func partitionsAssigned(_ partitions: [KafkaTopicPartition], consumer: KafkaConsumer) -> [KafkaTopicPartition: Int64] {
        poller.withLock { $0 }?.assign(Set(partitions.map { StreamPartition(topic: $0.topic, partition: $0.partition) }), startingAt: [:])
        return [:]
    }

    func partitionsRevoked(_ partitions: [KafkaTopicPartition], lost: Bool, consumer: KafkaConsumer) {
        poller.withLock { $0 }?.forget(Set(partitions.map { StreamPartition(topic: $0.topic, partition: $0.partition) }))
    }
}
