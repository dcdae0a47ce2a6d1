/// An error from the Kafka bridge: what failed, librdkafka's own words, and what to do.
///
/// Compare ``code`` to tell failures apart; ``description`` is written for the operator.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Backing: String, Sendable {
            case invalidConfiguration
            case clientCreation
            case subscription
            case poll
            case commit
            case committedOffsets
            case seek
            case pauseResume
            case assignment
            case close
            case closed
            case produce
            case flushTimedOut
            case deliveryFailed
            case mockCluster
        }

        fileprivate let backing: Backing

        fileprivate init(_ backing: Backing) { self.backing = backing }

        /// A configuration property is unknown, has an invalid value, or conflicts with what
        /// the bridge manages itself.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// librdkafka refused to create the client (`rd_kafka_new`).
        public static let clientCreation = Code(.clientCreation)
        /// Subscribing to topics failed.
        public static let subscription = Code(.subscription)
        /// A fatal consumer error: the client cannot continue and must be recreated.
        public static let poll = Code(.poll)
        /// Committing offsets failed.
        public static let commit = Code(.commit)
        /// Reading committed offsets failed.
        public static let committedOffsets = Code(.committedOffsets)
        /// Seeking a partition failed.
        public static let seek = Code(.seek)
        /// Pausing or resuming partitions failed.
        public static let pauseResume = Code(.pauseResume)
        /// Reading or changing the assignment failed.
        public static let assignment = Code(.assignment)
        /// Leaving the consumer group failed.
        public static let close = Code(.close)
        /// The consumer was already closed.
        public static let closed = Code(.closed)
        /// librdkafka refused a message (too large, unknown partition, ...).
        public static let produce = Code(.produce)
        /// `flush` returned with messages still undelivered.
        public static let flushTimedOut = Code(.flushTimedOut)
        /// Messages failed delivery.
        public static let deliveryFailed = Code(.deliveryFailed)
        /// The mock cluster could not be created or refused a command.
        public static let mockCluster = Code(.mockCluster)

        public var description: String { backing.rawValue }
    }

    /// The kind of failure.
    public let code: Code
    /// What failed, in librdkafka's words where it gave any.
    public let message: String
    /// What the operator should do about it.
    public let remedy: String
    /// The configuration property concerned, for ``Code/invalidConfiguration``.
    public let property: String?
    /// librdkafka's error name (`rd_kafka_err2name`), such as `_TRANSPORT` or `NOT_COORDINATOR`.
    public let librdkafkaError: String?
    /// Where the error was raised.
    public let file: String
    public let line: Int

    init(
        _ code: Code,
        _ message: String,
        remedy: String,
        property: String? = nil,
        librdkafkaError: String? = nil,
        file: String = #fileID,
        line: Int = #line
    ) {
        self.code = code
        self.message = message
        self.remedy = remedy
        self.property = property
        self.librdkafkaError = librdkafkaError
        self.file = file
        self.line = line
    }

    public var description: String {
        var text = "Kafka \(code): \(message)"
        if let librdkafkaError { text += " [\(librdkafkaError)]" }
        if !remedy.isEmpty { text += ". \(remedy)" }
        return text
    }
}

extension KafkaError {
    static func invalidProperty(_ name: String, reason: String, file: String = #fileID, line: Int = #line) -> KafkaError {
        KafkaError(
            .invalidConfiguration, "configuration property \"\(name)\": \(reason)",
            remedy: "Fix or remove \"\(name)\" in the Kafka properties; see librdkafka's CONFIGURATION.md for the 2.0.2 property list",
            property: name, file: file, line: line)
    }

    static func closed(file: String = #fileID, line: Int = #line) -> KafkaError {
        KafkaError(
            .closed, "the consumer is closed",
            remedy: "Create a new KafkaConsumer; a closed consumer cannot poll, commit or change its assignment",
            file: file, line: line)
    }
}
