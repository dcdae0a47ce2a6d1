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
