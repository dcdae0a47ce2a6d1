import HSNNKafka
import Logging

/// The development broker: librdkafka's mock cluster on 127.0.0.1, with hsnn's topics.
///
/// It lives as long as this value; its data is in memory only.
public final class EmbeddedBroker: Sendable {
    public let cluster: MockKafkaCluster
    /// `127.0.0.1:PORT` for clients in this process or any other (kcat, `hsnn produce`).
    public var bootstrapServers: String { cluster.bootstrapServers }

    /// Starts the cluster and creates the events topic (`eventPartitions` partitions) and the catalog topic.
    /// - Throws: when the mock cluster cannot start.
    public init(eventsTopic: String, itemsTopic: String, eventPartitions: Int = 4, logger: Logger) throws {
        cluster = try MockKafkaCluster(brokers: 1, logger: logger)
        try cluster.createTopic(eventsTopic, partitions: eventPartitions)
        try cluster.createTopic(itemsTopic, partitions: 1)
    }
}
