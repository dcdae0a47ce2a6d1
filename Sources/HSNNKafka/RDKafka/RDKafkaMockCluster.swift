import CRdkafka
import Logging

/// Owns one librdkafka mock cluster (`rd_kafka_mock_cluster_t`) and the client handle it
/// needs for bookkeeping; every `rd_kafka_mock_*` call goes through here.
final class RDKafkaMockCluster: Sendable {
    // Teardown order: `deinit` destroys the cluster first; `client` (the rd_kafka_t the
    // cluster was created with) is a stored property and so is released only afterwards.
    private let cluster: RDKafkaPointer
    private let client: RDKafkaClient
    let brokerCount: Int

    /// Starts `brokerCount` brokers listening on 127.0.0.1 (ports chosen by the system).
    ///
    /// - Throws: ``KafkaError/Code/mockCluster`` when librdkafka cannot start them.
    init(brokerCount: Int, logger: Logger) throws(KafkaError) {
        precondition(brokerCount > 0, "a mock cluster needs at least one broker")
        // A producer handle with no brokers configured: it only anchors the cluster.
        client = try RDKafkaClient(
            kind: .producer, properties: [("client.id", "hsnn-mock-cluster"), ("log_level", "4")],
            context: RDKafkaCallbackContext(logger: logger))
        guard let created = rd_kafka_mock_cluster_new(client.pointerForMockCluster, Int32(brokerCount)) else {
            throw KafkaError(
                .mockCluster, "librdkafka could not start a mock cluster of \(brokerCount) brokers",
                remedy: "Check that 127.0.0.1 is available for listening sockets")
        }
        cluster = RDKafkaPointer(raw: created)
        self.brokerCount = brokerCount
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster.raw)
    }

    /// `host:port,...` of every broker.
    var bootstrapServers: String {
        String(cString: rd_kafka_mock_cluster_bootstraps(cluster.raw))
    }

    func createTopic(_ name: String, partitions: Int, replicationFactor: Int) throws(KafkaError) {
        try check(
            rd_kafka_mock_topic_create(cluster.raw, name, Int32(clamping: partitions), Int32(clamping: replicationFactor)),
            "create topic \(name) with \(partitions) partitions")
    }

    func setBroker(_ id: Int32, up: Bool) throws(KafkaError) {
        let result = up ? rd_kafka_mock_broker_set_up(cluster.raw, id) : rd_kafka_mock_broker_set_down(cluster.raw, id)
        try check(result, "set broker \(id) \(up ? "up" : "down")")
    }

    func setRoundTripTime(broker id: Int32, milliseconds: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_rtt(cluster.raw, id, milliseconds), "set the round-trip time of broker \(id)")
    }

    func pushRequestErrors(api: Int16, errors: [Int32]) {
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        codes.withUnsafeBufferPointer { buffer in
            rd_kafka_mock_push_request_errors_array(cluster.raw, api, buffer.count, buffer.baseAddress)
        }
    }

    func clearRequestErrors(api: Int16) {
        rd_kafka_mock_clear_request_errors(cluster.raw, api)
    }

    static func errorName(_ code: Int32) -> String {
        RDKafkaClient.errorName(rd_kafka_resp_err_t(rawValue: code))
    }

    private func check(_ error: rd_kafka_resp_err_t, _ action: String) throws(KafkaError) {
        guard error != RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        throw KafkaError(
            .mockCluster, "the mock cluster could not \(action): \(RDKafkaClient.errorMessage(error))",
            remedy: "Check the broker id (1...\(brokerCount)) and topic arguments",
            librdkafkaError: RDKafkaClient.errorName(error))
    }
}
