import HSNNKafka
import Logging
import Synchronization
import Testing
import HSNNTestSupport

@Suite("KafkaProducer and MockKafkaCluster")
struct KafkaProducerTests {
    @Test("every message gets a delivery report with its offset")
    func deliveryReports() throws {
        let cluster = try MockKafkaCluster(logger: testLogger("mock"))
        try cluster.createTopic("reports", partitions: 4)
        let reports = Mutex<[KafkaDeliveryReport]>([])
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers),
            logger: testLogger("producer"),
            onDelivery: { report in reports.withLock { $0.append(report) } })
        var ids: [UInt64] = []
        for i in 0..<100 {
            ids.append(try producer.send(topic: "reports", key: Array("user-\(i % 10)".utf8), value: Array("\(i)".utf8)))
        }
        try producer.flush(timeout: .seconds(10))
        let received = reports.withLock { $0 }
        #expect(received.count == 100)
        #expect(Set(received.map(\.messageID)) == Set(ids))
        #expect(received.allSatisfy { $0.error == nil && $0.topic == "reports" })
        // Offsets are dense per partition, and one key always lands on one partition.
        for partition in Set(received.map(\.partition)) {
            let offsets = received.filter { $0.partition == partition }.compactMap(\.offset).sorted()
            #expect(offsets == (0..<Int64(offsets.count)).map { $0 })
        }
        #expect(Set(received.map(\.partition)).count > 1)
        let counts = producer.deliveryCounts
        #expect(counts.sent == 100 && counts.delivered == 100 && counts.failed == 0 && counts.inFlight == 0)
    }

    @Test("a request error pushed on the mock cluster fails delivery, and flush reports it")
    func injectedProduceError() throws {
        let cluster = try MockKafkaCluster(logger: testLogger("mock"))
        try cluster.createTopic("faults", partitions: 1)
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers),
            logger: testLogger("producer"))
        // Warm up the connection so that the error hits a produce request.
        try producer.send(topic: "faults", key: nil, value: Array("first".utf8))
        try producer.flush(timeout: .seconds(10))

        let tooLarge = KafkaProtocolError(rawValue: 10)  // MESSAGE_TOO_LARGE: not retried
        #expect(tooLarge.description == "MSG_SIZE_TOO_LARGE")
        cluster.pushRequestErrors([tooLarge], for: .produce)
        try producer.send(topic: "faults", key: nil, value: Array("rejected".utf8))
        let error = try #require(throws: KafkaError.self) { try producer.flush(timeout: .seconds(10)) }
        #expect(error.code == .deliveryFailed)
        #expect(error.librdkafkaError == "MSG_SIZE_TOO_LARGE")
        // The reason is librdkafka's text for the error, never the message's own bytes (which
        // are not NUL-terminated: reading them as a C string overran the buffer).
        #expect(!error.description.contains("rejected"), "\(error.description)")

        // The error was used up: the next message goes through, and the failure is not repeated.
        try producer.send(topic: "faults", key: nil, value: Array("second".utf8))
        try producer.flush(timeout: .seconds(10))
        let counts = producer.deliveryCounts
        #expect(counts.delivered == 2 && counts.failed == 1)
    }

    @Test("flush times out while the broker is down and completes once it is back")
    func flushAcrossOutage() throws {
        let cluster = try MockKafkaCluster(logger: testLogger("mock"))
        try cluster.createTopic("outage", partitions: 2)
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(
                bootstrapServers: cluster.bootstrapServers,
                properties: ["reconnect.backoff.ms": "50", "reconnect.backoff.max.ms": "300"]),
            logger: testLogger("producer"))
        try producer.send(topic: "outage", key: nil, value: [1])
        try producer.flush(timeout: .seconds(10))

        try cluster.setBrokersDown()
        for i in 0..<10 { try producer.send(topic: "outage", key: nil, value: [UInt8(i)]) }
        let error = try #require(throws: KafkaError.self) { try producer.flush(timeout: .milliseconds(500)) }
        #expect(error.code == .flushTimedOut)
        #expect(producer.deliveryCounts.inFlight == 10)

        try cluster.setBrokersUp()
        try producer.flush(timeout: .seconds(15))
        #expect(producer.deliveryCounts.delivered == 11)
    }

    @Test("a message for a partition the topic lacks is refused")
    func unknownPartition() throws {
        let cluster = try MockKafkaCluster(logger: testLogger("mock"))
        try cluster.createTopic("small", partitions: 2)
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrapServers),
            logger: testLogger("producer"))
        try producer.send(topic: "small", key: nil, value: [0], partition: 1)
        try producer.flush(timeout: .seconds(10))
        // The partition count is known from the first delivery: the send itself fails.
        let error = try #require(throws: KafkaError.self) {
            try producer.send(topic: "small", key: nil, value: [0], partition: 7)
        }
        #expect(error.code == .produce)
        #expect(error.librdkafkaError == "_UNKNOWN_PARTITION")
        #expect(producer.deliveryCounts.sent == 1)
    }

    @Test("the mock cluster lists every broker and rejects unknown broker ids")
    func mockClusterBrokers() throws {
        let cluster = try MockKafkaCluster(brokers: 3, logger: testLogger("mock"))
        let servers = cluster.bootstrapServers.split(separator: ",")
        #expect(servers.count == 3)
        #expect(servers.allSatisfy { $0.hasPrefix("127.0.0.1:") && Int($0.dropFirst("127.0.0.1:".count)) != nil })
        #expect(cluster.brokerIDs == 1...3)
        try cluster.createTopic("replicated", partitions: 3, replicationFactor: 3)
        try cluster.setBrokersDown([2])
        try cluster.setBrokersUp([2])
        try cluster.setRoundTripTime(.milliseconds(5))
        let error = try #require(throws: KafkaError.self) { try cluster.setBrokersDown([9]) }
        #expect(error.code == .mockCluster)
    }
}
