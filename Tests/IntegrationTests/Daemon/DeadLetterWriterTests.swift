import HSNNKafka
import HSNNPipeline
import Testing
import HSNNTestSupport

@testable import HSNNDaemon

/// Copies of malformed records that the dead-letter producer cannot make are counted.
@Suite struct DeadLetterWriterTests {
    private func record(bytes: Int) -> RejectedRecord {
        RejectedRecord(partition: StreamPartition(topic: "hsnn.events", partition: 0), offset: 7, key: nil,
                       value: [UInt8](repeating: UInt8(ascii: "x"), count: bytes),
                       error: RecordDecodeError(reason: "json", message: "not JSON"))
    }

    @Test func aCopyTooLargeForTheProducerIsCounted() throws {
        let cluster = try MockKafkaCluster(brokers: 1, logger: testLogger("mock"))
        try cluster.createTopic("hsnn.dlq", partitions: 1)
        let configuration = KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers, clientID: "dead-letter-test",
                                                       properties: ["message.max.bytes": "4096"])
        let writer = try DeadLetterWriter(topic: "hsnn.dlq", configuration: configuration, logger: testLogger("dead-letter"))
        writer.write(record(bytes: 100))
        writer.close()
        #expect(writer.failedCopies == 0, "a small copy is delivered")
        // Base64 in the JSON envelope makes 8,000 bytes about 10,700: above message.max.bytes.
        writer.write(record(bytes: 8000))
        writer.close()
        #expect(writer.failedCopies == 1)
        writer.write(record(bytes: 100))
        writer.close()
        #expect(writer.failedCopies == 1)
    }
}
