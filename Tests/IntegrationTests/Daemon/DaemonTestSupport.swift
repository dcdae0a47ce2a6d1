import Foundation
import HSNNDaemon
import HSNNEvents
import HSNNKafka
import HSNNOps
import HSNNPipeline
import Logging
import ServiceLifecycle
import Synchronization
import Testing
import HSNNTestSupport

/// A learner that records what it was asked to train, so tests can check that every event
/// is trained exactly once. Its state (the records) is written to and restored from checkpoints.
final class RecordingLearner: CheckpointableLearner {
    struct Records: Codable, Sendable {
        var trained: [String] = []
        var upserts: [String] = []
        var deletes: [String] = []
    }

    var records: Records
    let sink: RecordSink?

    init(records: Records = Records(), sink: RecordSink?) {
        self.records = records
        self.sink = sink
    }

    func apply(_ item: ItemEvent) {
        if item.op == .upsert { records.upserts.append(item.itemID) } else { records.deletes.append(item.itemID) }
    }

    func train(_ batch: [LabeledExample]) {
        for example in batch { records.trained.append(example.impression.eventID) }
        sink?.add(batch.map(\.impression.eventID))
    }

    func makeSnapshot() -> any LearnerSnapshot { RecordingSnapshot(records: records) }
    func progress() -> [String: Double] { ["trained": Double(records.trained.count)] }
}

struct RecordingSnapshot: LearnerSnapshot {
    let records: RecordingLearner.Records
    func write(to folder: URL) throws {
        try JSONEncoder().encode(records).write(to: folder.appendingPathComponent("records.json"))
    }
    var configurationJSON: [String: String] { ["kind": "recording"] }
    var statistics: [String: Double] { ["trained": Double(records.trained.count)] }
}

/// Every event id trained by any learner of one test, in order, across daemons.
final class RecordSink: Sendable {
    private let ids = Mutex<[String]>([])
    func add(_ batch: [String]) { ids.withLock { $0.append(contentsOf: batch) } }
    var all: [String] { ids.withLock { $0 } }
}

struct RecordingFactory: LearnerFactory {
    let sink: RecordSink?
    func makeFresh() throws -> any CheckpointableLearner { RecordingLearner(sink: sink) }
    func load(from folder: URL) throws -> any CheckpointableLearner {
        let records = try JSONDecoder().decode(RecordingLearner.Records.self, from: Data(contentsOf: folder.appendingPathComponent("records.json")))
        return RecordingLearner(records: records, sink: sink)
    }
}

/// A mock Kafka cluster with hsnn's topics and a producer of schema events.
final class DaemonTestCluster: Sendable {
    let cluster: MockKafkaCluster
    let producer: KafkaProducer
    let partitions: Int

    init(partitions: Int = 4) throws {
        cluster = try MockKafkaCluster(brokers: 1, logger: testLogger("mock"))
        try cluster.createTopic("hsnn.events", partitions: partitions)
        try cluster.createTopic("hsnn.items", partitions: 1)
        self.partitions = partitions
        producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers),
                                     logger: testLogger("producer"))
    }

    /// Produces labelled impressions `range` (event ids `e<i>`), spread over the partitions;
    /// `padding` adds that many bytes to each (in a user feature).
    func produceImpressions(_ range: Range<Int>, baseMs: Int64 = 1_700_000_000_000, padding: Int = 0) throws {
        // In features of at most 1,000 bytes (the decoder refuses longer strings).
        let pad = stride(from: 0, to: padding, by: 1_000).map { start in
            #","pad\#(start)":""# + String(repeating: "x", count: min(1_000, padding - start)) + "\""
        }.joined()
        for i in range {
            let json = #"{"type":"impression","event_id":"e\#(i)","request_id":"r\#(i)","ts_ms":\#(baseMs + Int64(i) * 10),"user_id":"u\#(i % 37)","item_id":"i\#(i % 101)","user_features":{"age":"25-34"\#(pad)},"clicked":\#(i % 7 == 0)}"#
            try producer.send(topic: "hsnn.events", key: Array("u\(i % 37)".utf8), value: Array(json.utf8), partition: Int32(i % partitions))
        }
        try producer.flush(timeout: .seconds(20))
    }

    func produceRaw(_ value: [UInt8]?, topic: String = "hsnn.events", key: [UInt8]? = nil) throws {
        try producer.send(topic: topic, key: key, value: value, partition: 0)
    }

    func flush() throws { try producer.flush(timeout: .seconds(20)) }

    /// A configuration for a daemon on this cluster writing checkpoints to `checkpoints`.
    func configuration(checkpoints: String, extra: [String] = []) throws -> Configuration {
        var overrides = [
            "kafka.brokers=\(cluster.bootstrapServers)", "kafka.group_id=test", "checkpoint.dir=\(checkpoints)",
            "checkpoint.every_seconds=3600", "checkpoint.every_events=0", "training.batch_size=8",
            "http.port=0", "shutdown.grace_seconds=30", "kafka.poll_timeout_ms=50",
        ]
        for (k, v) in fastGroupProperties { overrides.append("kafka.properties.\(k)=\(v)") }
        return try ConfigLoader(schema: .hsnn).load(file: nil, environment: [:], overrides: overrides + extra)
    }
}

/// A daemon running in its own service group, stoppable like SIGTERM would.
final class RunningDaemon: Sendable {
    let daemon: StreamTrainingService
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    init(settings: DaemonSettings, factory: any LearnerFactory) {
        let logger = testLogger("daemon")
        daemon = StreamTrainingService(settings: settings, factory: factory, logger: logger)
        group = ServiceGroup(configuration: .init(services: [daemon], logger: logger))
        let group = self.group
        task = Task { try await group.run() }
    }

    var status: DaemonStatusBoard.Status { daemon.status.current }

    /// Waits until `condition` holds on the status, or fails after `seconds`.
    func wait(seconds: Double = 60, _ what: String, until condition: (DaemonStatusBoard.Status) -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !condition(status) {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting for \(what); status: trained \(status.pipeline.examplesTrained), events \(status.pipeline.events)")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Graceful shutdown, as SIGTERM does; returns when the daemon has exited.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value
    }
}

/// Makes checkpoint writes fail while `remaining` is above zero (each failure counts it down;
/// `Int.max` fails forever), as a full or read-only checkpoint file system would.
final class WriteFailures: Sendable {
    private let remaining: Mutex<Int>
    private let attempts = Mutex(0)
    init(_ count: Int) { remaining = Mutex(count) }
    var attempted: Int { attempts.withLock { $0 } }
    func check() throws {
        attempts.withLock { $0 += 1 }
        let fail = remaining.withLock { n -> Bool in
            guard n > 0 else { return false }
            if n != .max { n -= 1 }
            return true
        }
        if fail { throw CocoaError(.fileWriteOutOfSpace) }
    }
}

/// A ``RecordingFactory`` whose snapshots fail to write as ``WriteFailures`` says.
struct FailingWriteFactory: LearnerFactory {
    let sink: RecordSink?
    let failures: WriteFailures
    func makeFresh() throws -> any CheckpointableLearner { FailingWriteLearner(sink: sink, failures: failures) }
    func load(from folder: URL) throws -> any CheckpointableLearner {
        let records = try JSONDecoder().decode(RecordingLearner.Records.self, from: Data(contentsOf: folder.appendingPathComponent("records.json")))
        return FailingWriteLearner(records: records, sink: sink, failures: failures)
    }
}

final class FailingWriteLearner: CheckpointableLearner {
    let inner: RecordingLearner
    let failures: WriteFailures
    init(records: RecordingLearner.Records = .init(), sink: RecordSink?, failures: WriteFailures) {
        inner = RecordingLearner(records: records, sink: sink)
        self.failures = failures
    }
    func apply(_ item: ItemEvent) { inner.apply(item) }
    func train(_ batch: [LabeledExample]) { inner.train(batch) }
    func makeSnapshot() -> any LearnerSnapshot { FailingSnapshot(inner: RecordingSnapshot(records: inner.records), failures: failures) }
    func progress() -> [String: Double] { inner.progress() }
}

struct FailingSnapshot: LearnerSnapshot {
    let inner: RecordingSnapshot
    let failures: WriteFailures
    func write(to folder: URL) throws {
        try failures.check()
        try inner.write(to: folder)
    }
    var configurationJSON: [String: String] { inner.configurationJSON }
    var statistics: [String: Double] { inner.statistics }
}
