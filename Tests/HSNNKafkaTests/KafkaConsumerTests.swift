import HSNNKafka
import Logging
import Synchronization
import Testing

@Suite("KafkaConsumer against the mock cluster")
struct KafkaConsumerTests {
    @Test("every message of a 4-partition topic is consumed exactly once, and committed")
    func consumesEverythingOnce() async throws {
        let test = try TestCluster()
        let count = 2000
        try test.produce(0..<count)
        let member = Member(commitEvery: 150)
        let committed = try await onDedicatedThread {
            let consumer = try KafkaConsumer(
                configuration: test.consumerConfiguration(group: uniqueGroup("once")),
                rebalanceHandler: member, logger: testLogger("consumer"))
            try consumer.subscribe(topics: [test.topic])
            try consumer.pollUntil(member, timeout: .seconds(20)) { member.processed.count >= count }
            // Nothing more arrives.
            try consumer.pollUntil(member, timeout: .milliseconds(500)) { false }
            try member.commitAll(consumer: consumer)
            let committed = try consumer.committedOffsets(for: test.allPartitions, timeout: .seconds(5))
            try consumer.close()
            return committed
        }
        let processed = member.processed
        #expect(processed.count == count)
        #expect(Set(processed) == expectedPositions(0..<count, partitions: 4))
        // Committed offsets are the next offset to read: one past the last message.
        #expect(committed == Dictionary(uniqueKeysWithValues: test.allPartitions.map { ($0, Int64(count / 4)) }))
        // Values arrive intact and in partition order.
        let values = member.state.withLock { $0.values }
        #expect(values[Position(partition: 1, offset: 0)] == Array("v1".utf8))
        #expect(values[Position(partition: 3, offset: 499)] == Array("v1999".utf8))
        for partition in 0..<Int32(4) {
            let offsets = processed.filter { $0.partition == partition }.map(\.offset)
            #expect(offsets == offsets.sorted())
        }
    }
}
