import CRdkafka
import Logging

/// An in-process Kafka cluster (librdkafka's mock cluster) reachable over TCP on 127.0.0.1:
/// for tests, the embedded development broker, and `hsnn dev-broker`.
///
/// It speaks enough of the protocol for producers, consumer groups (eager and
/// cooperative) and offset commits; it keeps data in memory and stops when released.
/// Fault injection: brokers down/up, request errors, round-trip delay.
///
/// Its brokers are numbered `1...brokerCount`. Any client, in this process or another
/// (kcat, a second daemon), connects through ``bootstrapServers``.
///
/// Differences from a real cluster worth knowing (librdkafka 2.0.2):
/// - Each partition keeps only its newest 5 MiB (or 100,000 message batches); older
///   messages are dropped, and a consumer lagging further behind jumps ahead per
///   `auto.offset.reset`. Keep producers within that distance of the consumers.
/// - A group's first join waits 3 s; a later rebalance waits for every member to rejoin,
///   at most `session.timeout.ms` − 1 s. Clients that want quick rebalances set
///   `session.timeout.ms` (for example 6000) and `heartbeat.interval.ms` (500).
/// - While the group rebalances, offset commits are refused (`REBALANCE_IN_PROGRESS`),
///   including commits made while the eager protocol revokes partitions; a real broker
///   accepts those.
public final class MockKafkaCluster: Sendable {
    private let cluster: RDKafkaMockCluster
    /// `127.0.0.1:PORT,...`, one entry per broker; the ports are chosen by the system.
    public let bootstrapServers: String

    /// Starts a cluster.
    ///
    /// - Parameters:
    ///   - brokers: How many brokers to start (ids `1...brokers`).
    ///   - logger: Receives the cluster's warnings.
    /// - Throws: ``KafkaError/Code/mockCluster`` when it cannot start.
    public init(brokers: Int = 1, logger: Logger) throws {
        cluster = try RDKafkaMockCluster(brokerCount: brokers, logger: logger)
        bootstrapServers = cluster.bootstrapServers
        logger.info("mock Kafka cluster started", metadata: ["kafka.bootstrap": "\(bootstrapServers)"])
    }

    /// The broker ids.
    public var brokerIDs: ClosedRange<Int32> { 1...Int32(cluster.brokerCount) }

    /// Creates a topic (otherwise topics are created on first use with librdkafka's default
    /// partition count).
    ///
    /// - Throws: ``KafkaError/Code/mockCluster`` (for example when the replication factor
    ///   exceeds the broker count).
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int = 1) throws {
        try cluster.createTopic(name, partitions: partitions, replicationFactor: replicationFactor)
    }

    /// Takes brokers down: their connections close and new ones are refused until
    /// ``setBrokersUp(_:)``. Leadership does not move.
    ///
    /// - Parameter ids: The brokers, or `nil` for all.
    /// - Throws: ``KafkaError/Code/mockCluster`` for an unknown broker id.
    public func setBrokersDown(_ ids: [Int32]? = nil) throws {
        for id in ids ?? Array(brokerIDs) {
            try cluster.setBroker(id, up: false)
        }
    }

    /// Lets brokers accept connections again.
    ///
    /// - Parameter ids: The brokers, or `nil` for all.
    /// - Throws: ``KafkaError/Code/mockCluster`` for an unknown broker id.
    public func setBrokersUp(_ ids: [Int32]? = nil) throws {
        for id in ids ?? Array(brokerIDs) {
            try cluster.setBroker(id, up: true)
        }
    }

    /// Delays every response of the brokers by `delay`.
    ///
    /// - Throws: ``KafkaError/Code/mockCluster`` for an unknown broker id.
    public func setRoundTripTime(_ delay: Duration, brokers ids: [Int32]? = nil) throws {
        for id in ids ?? Array(brokerIDs) {
            try cluster.setRoundTripTime(broker: id, milliseconds: delay.milliseconds)
        }
    }

    /// Makes the next `errors.count` requests of type `api` fail, in order, with the given
    /// errors (``KafkaProtocolError/transport`` disconnects the client instead).
    public func pushRequestErrors(_ errors: [KafkaProtocolError], for api: KafkaProtocolAPI) {
        cluster.pushRequestErrors(api: api.rawValue, errors: errors.map(\.rawValue))
    }

    /// Forgets request errors pushed for `api` that did not fire yet.
    public func clearRequestErrors(for api: KafkaProtocolAPI) {
        cluster.clearRequestErrors(api: api.rawValue)
    }
}

/// A Kafka protocol request type (its API key), for ``MockKafkaCluster`` fault injection.
public struct KafkaProtocolAPI: RawRepresentable, Hashable, Sendable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    public static let produce = KafkaProtocolAPI(rawValue: 0)
    public static let fetch = KafkaProtocolAPI(rawValue: 1)
    public static let listOffsets = KafkaProtocolAPI(rawValue: 2)
    public static let metadata = KafkaProtocolAPI(rawValue: 3)
    public static let offsetCommit = KafkaProtocolAPI(rawValue: 8)
    public static let offsetFetch = KafkaProtocolAPI(rawValue: 9)
    public static let findCoordinator = KafkaProtocolAPI(rawValue: 10)
    public static let joinGroup = KafkaProtocolAPI(rawValue: 11)
    public static let heartbeat = KafkaProtocolAPI(rawValue: 12)
    public static let leaveGroup = KafkaProtocolAPI(rawValue: 13)
    public static let syncGroup = KafkaProtocolAPI(rawValue: 14)
}

/// A Kafka protocol error code, for ``MockKafkaCluster`` fault injection.
public struct KafkaProtocolError: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// Not an error: the request succeeds.
    public static let none = KafkaProtocolError(rawValue: RD_KAFKA_RESP_ERR_NO_ERROR.rawValue)
    /// The broker closes the connection instead of answering.
    public static let transport = KafkaProtocolError(rawValue: RD_KAFKA_RESP_ERR__TRANSPORT.rawValue)
    public static let unknownTopicOrPartition = KafkaProtocolError(rawValue: RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART.rawValue)
    public static let leaderNotAvailable = KafkaProtocolError(rawValue: RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE.rawValue)
    public static let notLeaderForPartition = KafkaProtocolError(rawValue: RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION.rawValue)
    public static let requestTimedOut = KafkaProtocolError(rawValue: RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT.rawValue)
    public static let coordinatorNotAvailable = KafkaProtocolError(rawValue: RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE.rawValue)
    public static let notCoordinator = KafkaProtocolError(rawValue: RD_KAFKA_RESP_ERR_NOT_COORDINATOR.rawValue)
    public static let rebalanceInProgress = KafkaProtocolError(rawValue: RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS.rawValue)

    /// librdkafka's name for the code (`NOT_COORDINATOR`, `_TRANSPORT`, ...).
    public var description: String { RDKafkaMockCluster.errorName(rawValue) }
}
