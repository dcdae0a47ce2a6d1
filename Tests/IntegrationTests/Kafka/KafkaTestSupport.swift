import Foundation
import HSNNKafka
import InMemoryLogging
import Logging
import Synchronization
import Testing
import HSNNTestSupport
import HSNNSupport

/// A mock cluster with one topic and a producer.
struct TestCluster {
    // The producer is declared (and so released) before the cluster it talks to.
    let producer: KafkaProducer
    let cluster: MockKafkaCluster
    let topic: String
    let partitions: Int

    init(topic: String = "events", partitions: Int = 4, brokers: Int = 1) throws {
        let cluster = try MockKafkaCluster(brokers: brokers, logger: testLogger("mock"))
        try cluster.createTopic(topic, partitions: partitions)
        self.cluster = cluster
        self.topic = topic
        self.partitions = partitions
        producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers),
            logger: testLogger("producer"))
    }

    /// Produces messages `range`, message `i` to partition `i % partitions` with key `k<i>`
    /// and value `v<i>`, and waits for delivery.
    func produce(_ range: Range<Int>) throws {
        for i in range {
            try producer.send(
                topic: topic, key: Array("k\(i)".utf8), value: Array("v\(i)".utf8),
                partition: Int32(i % partitions))
        }
        try producer.flush(timeout: .seconds(10))
    }

    var allPartitions: [KafkaTopicPartition] {
        (0..<partitions).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) }
    }

    func consumerConfiguration(group: String, properties: [String: String] = [:]) -> KafkaConsumerConfiguration {
        KafkaConsumerConfiguration(
            bootstrapServers: cluster.bootstrapServers, groupID: group, clientID: "test-\(group)",
            properties: fastGroupProperties.merging(properties) { $1 })
    }
}

/// A message's identity: where it was read.
struct Position: Hashable, Sendable, Comparable, CustomStringConvertible {
    var partition: Int32
    var offset: Int64

    static func < (lhs: Position, rhs: Position) -> Bool {
        (lhs.partition, lhs.offset) < (rhs.partition, rhs.offset)
    }

    var description: String { "\(partition)@\(offset)" }
}

/// What the daemon does around its consumer, reduced to bookkeeping: "processes" messages,
/// remembers the next offset per partition, commits every `commitEvery` messages (a failed
/// periodic commit is recorded and retried with the next one), and on revocation commits
/// what it processed for the revoked partitions and did not commit yet.
final class Member: KafkaRebalanceHandler {
    struct State {
        var processed: [Position] = []
        var values: [Position: [UInt8]?] = [:]
        var next: [KafkaTopicPartition: Int64] = [:]
        var committed: [KafkaTopicPartition: Int64] = [:]
        var sinceCommit = 0
        var assignedEvents: [[KafkaTopicPartition]] = []
        var revokedEvents: [[KafkaTopicPartition]] = []
        /// Offsets committed inside `partitionsRevoked`.
        var revokeCommits: [[KafkaTopicPartition: Int64]] = []
        var revokeCommitErrors: [String] = []
        var periodicCommitErrors: [String] = []
    }

    let state = Mutex(State())
    let commitEvery: Int
    let asyncCommits: Bool
    let startOffsets: [KafkaTopicPartition: Int64]

    init(commitEvery: Int = 100, asyncCommits: Bool = false, startOffsets: [KafkaTopicPartition: Int64] = [:]) {
        self.commitEvery = commitEvery
        self.asyncCommits = asyncCommits
        self.startOffsets = startOffsets
    }

    func partitionsAssigned(_ partitions: [KafkaTopicPartition], consumer: KafkaConsumer) -> [KafkaTopicPartition: Int64] {
        state.withLock { $0.assignedEvents.append(partitions.sorted()) }
        return startOffsets.filter { partitions.contains($0.key) }
    }

    func partitionsRevoked(_ partitions: [KafkaTopicPartition], lost: Bool, consumer: KafkaConsumer) {
        let offsets = state.withLock { state in
            state.revokedEvents.append(partitions.sorted())
            let offsets = state.next.filter { partitions.contains($0.key) && state.committed[$0.key] != $0.value }
            for partition in partitions {
                state.next[partition] = nil
                state.committed[partition] = nil
            }
            return offsets
        }
        guard !lost, !offsets.isEmpty else { return }
        do {
            try consumer.commit(offsets)
            state.withLock { $0.revokeCommits.append(offsets) }
        } catch {
            state.withLock { $0.revokeCommitErrors.append("\(error)") }
        }
    }

    /// Records a message; commits when `commitEvery` messages accumulated.
    func process(_ message: KafkaConsumerMessage, consumer: KafkaConsumer) throws {
        let toCommit: [KafkaTopicPartition: Int64]? = state.withLock { state in
            state.processed.append(Position(partition: message.partition, offset: message.offset))
            state.values[Position(partition: message.partition, offset: message.offset)] = message.value
            state.next[message.topicPartition] = message.offset + 1
            state.sinceCommit += 1
            guard state.sinceCommit >= commitEvery else { return nil }
            state.sinceCommit = 0
            return state.next
        }
        guard let toCommit else { return }
        do {
            if asyncCommits {
                try consumer.commitAsync(toCommit)
            } else {
                try consumer.commit(toCommit)
            }
            state.withLock { $0.committed.merge(toCommit) { $1 } }
        } catch {
            state.withLock { $0.periodicCommitErrors.append("\(error)") }
        }
    }

    /// Commits everything processed so far.
    func commitAll(consumer: KafkaConsumer) throws {
        let offsets = state.withLock { $0.next }
        try consumer.commit(offsets)
        state.withLock { $0.committed.merge(offsets) { $1 } }
    }

    var processed: [Position] { state.withLock { $0.processed } }
}

extension KafkaConsumer {
    /// Polls until `done` holds or `timeout` passes, handing each message to `member`.
    /// - Returns: whether `done` held.
    @discardableResult
    func pollUntil(
        _ member: Member, timeout: Duration, poll pollTimeout: Duration = .milliseconds(50),
        _ done: () throws -> Bool
    ) throws -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if try done() { return true }
            if let message = try poll(timeout: pollTimeout) {
                try member.process(message, consumer: self)
            }
        }
        return try done()
    }
}

/// Every position `0..<count` messages of `TestCluster.produce` occupy, partition by partition.
func expectedPositions(_ range: Range<Int>, partitions: Int) -> Set<Position> {
    var perPartitionOffset = [Int64](repeating: 0, count: partitions)
    var result = Set<Position>()
    for i in 0..<range.upperBound {
        let partition = i % partitions
        if i >= range.lowerBound {
            result.insert(Position(partition: Int32(partition), offset: perPartitionOffset[partition]))
        }
        perPartitionOffset[partition] += 1
    }
    return result
}

/// A unique group name per test run.
func uniqueGroup(_ name: String) -> String {
    "\(name)-\(UInt32.random(in: 0...UInt32.max))"
}
