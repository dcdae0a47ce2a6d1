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
    /// `ingest.pause_after_ms`: how long the trainer may take nothing from a full ingest queue
    /// before the poller pauses its partitions.
    public var pauseAfter: Duration
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

    /// librdkafka's `max.poll.interval.ms` as `kafka.properties` sets it (300000 by default);
    /// `nil` when the property is not a whole number (librdkafka then refuses it at start).
    public var maxPollInterval: Duration? {
        guard let text = kafkaProperties["max.poll.interval.ms"] else { return .milliseconds(300_000) }
        return Int(text.trimmingCharacters(in: .whitespaces)).map { .milliseconds($0) }
    }

    /// Checks the rules that involve more than one key.
    /// - Throws: ``DaemonSettingsError`` naming the keys and what to change.
    public func validate() throws(DaemonSettingsError) {
        if let interval = maxPollInterval, pauseAfter * 2 > interval {
            throw DaemonSettingsError(
                keys: ["ingest.pause_after_ms", "kafka.properties.max.poll.interval.ms"],
                message: """
                    ingest.pause_after_ms (\(milliseconds(pauseAfter)) ms) is more than half of max.poll.interval.ms \
                    (\(milliseconds(interval)) ms): while the trainer is stalled the poller may wait that long between \
                    polls, and the group evicts a member that does not poll within max.poll.interval.ms. Lower \
                    ingest.pause_after_ms to at most \(milliseconds(interval) / 2) ms or raise \
                    kafka.properties.max.poll.interval.ms to at least \(2 * milliseconds(pauseAfter)).
                    """)
        }
    }

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
        pauseAfter = c.duration("ingest.pause_after_ms")
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

/// A combination of settings the daemon refuses, with the keys involved and what to change.
public struct DaemonSettingsError: Error, Sendable, CustomStringConvertible {
    /// The configuration keys involved.
    public var keys: [String]
    /// What is wrong and what the operator should change.
    public var message: String

    public var description: String { message }
}

private func milliseconds(_ duration: Duration) -> Int64 {
    duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
}
