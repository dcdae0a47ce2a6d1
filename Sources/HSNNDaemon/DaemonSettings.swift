import Foundation
import HSNNEvents
import HSNNOps
import HSNNStream

/// The daemon's settings, read from a loaded ``Configuration`` (see `config/README.md`).
public struct DaemonSettings: Sendable {
    /// `kafka.brokers`: a bootstrap list, or `embedded` for the in-process mock cluster.
    public var brokers: String
    public var groupID: String
    public var eventsTopic: String
    public var itemsTopic: String
    public var deadLetterTopic: String?
    public var kafkaProperties: [String: String]
    public var prefetchKilobytes: Int
    public var pollTimeout: Duration
    public var queueCapacity: Int
    public var decoderLimits: DecoderLimits
    public var joiner: JoinerConfiguration
    public var batchSize: Int
    public var checkpointDirectory: String
    public var checkpointEverySeconds: Double
    public var checkpointEveryEvents: Int64
    public var checkpointKeep: Int
    public var checkpointFileMode: UInt16
    public var checkpointFolderMode: UInt16
    public var shutdownGrace: Duration

    /// Whether to start librdkafka's mock cluster in-process.
    public var usesEmbeddedBroker: Bool { brokers == "embedded" }

    public init(_ c: Configuration) {
        brokers = c.string("kafka.brokers")
        groupID = c.string("kafka.group_id")
        eventsTopic = c.string("kafka.events_topic")
        itemsTopic = c.string("kafka.items_topic")
        deadLetterTopic = c.optionalString("kafka.dead_letter_topic")
        kafkaProperties = c.stringMap("kafka.properties")
        prefetchKilobytes = c.int("kafka.queued_max_messages_kbytes")
        pollTimeout = c.duration("kafka.poll_timeout_ms")
        queueCapacity = c.int("ingest.queue_capacity")
        var limits = DecoderLimits()
        limits.maxMessageBytes = c.int("ingest.max_message_bytes")
        let future = c.milliseconds("ingest.max_future_ms")
        limits.maxFutureSkewMs = future > 0 ? future : nil
        decoderLimits = limits
        joiner = JoinerConfiguration(
            attributionWindowMs: c.milliseconds("joiner.attribution_window_ms"),
            maxPending: c.int("joiner.max_pending"),
            overflowPolicy: JoinerConfiguration.OverflowPolicy(rawValue: c.string("joiner.overflow_policy")) ?? .emitNegative,
            maxPartitionLagMs: c.milliseconds("joiner.max_partition_lag_ms"),
            dedupeCapacity: c.int("joiner.dedupe_capacity"))
        batchSize = c.int("training.batch_size")
        checkpointDirectory = c.string("checkpoint.dir")
        let every = c.duration("checkpoint.every_seconds")
        checkpointEverySeconds = Double(every.components.seconds) + Double(every.components.attoseconds) * 1e-18
        checkpointEveryEvents = Int64(c.int("checkpoint.every_events"))
        checkpointKeep = c.int("checkpoint.keep")
        checkpointFileMode = UInt16(c.fileMode("checkpoint.file_mode"))
        checkpointFolderMode = UInt16(c.fileMode("checkpoint.dir_mode"))
        shutdownGrace = c.duration("shutdown.grace_seconds")
    }
}
