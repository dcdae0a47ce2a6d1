import Foundation
import HSNNEvents
import HSNNKafka
import HSNNOps
import HSNNPipeline
import HSNNSupport

/// The daemon's settings, read from a loaded ``Configuration`` (see `config/README.md`).
public struct DaemonSettings: Sendable {
    /// `kafka.brokers`: a bootstrap list, or `embedded` for the in-process mock cluster.
    public var brokers: String
    public var groupID: String
    public var eventsTopic: String
    public var itemsTopic: String
    public var deadLetterTopic: String?
    /// `kafka.properties`: the consumer's librdkafka properties (those for any client are shared
    /// with the dead-letter producer).
    public var kafkaProperties: [String: String]
    /// `kafka.producer_properties`: the dead-letter producer's own librdkafka properties.
    public var producerProperties: [String: String]
    public var prefetchKilobytes: Int
    public var pollTimeout: Duration
    public var queueCapacity: Int
    /// `ingest.pause_after_ms`: how long the trainer may take nothing from a full ingest queue
    /// before the poller pauses its partitions.
    public var pauseAfter: Duration
    /// `ingest.max_ahead_of_catalog_ms`: how far (event time) an events partition may run ahead
    /// of a catalog partition with unread records; nil: no limit.
    public var maxAheadOfCatalog: Duration?
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
    /// `training.max_batch_delay`: a partial batch older than this is trained once the ingest
    /// queue is empty; zero turns it off.
    public var maxBatchDelay: Duration
    /// `kafka.on_data_loss`: stop (instead of going on) when records were skipped by an offset reset.
    public var failOnDataLoss: Bool
    /// `kafka.liveness_timeout_ms`: how long the broker connections may stay silent before the
    /// daemon reports itself not ready.
    public var livenessTimeout: Duration
    /// `checkpoint.retry_initial_ms` and `checkpoint.retry_max_ms`: backoff of publish retries.
    public var publishRetryInitial: Duration
    public var publishRetryMax: Duration

    /// Whether to start librdkafka's mock cluster in-process.
    public var usesEmbeddedBroker: Bool { brokers == "embedded" }

    /// librdkafka's `max.poll.interval.ms` as `kafka.properties` sets it (300000 by default);
    /// `nil` when the property is not a whole number (librdkafka then refuses it at start).
    public var maxPollInterval: Duration? {
        guard let text = kafkaProperties["max.poll.interval.ms"] else { return .milliseconds(300_000) }
        return Int(text.trimmingCharacters(in: .whitespaces)).map { .milliseconds($0) }
    }

    /// The consumer's configuration for brokers at `bootstrap`: the pass-through properties
    /// (`client.id` among them, `hsnn` by default) plus the group timing the daemon defaults.
    public func consumerConfiguration(bootstrap: String) -> KafkaConsumerConfiguration {
        var properties = kafkaProperties
        properties["session.timeout.ms"] = properties["session.timeout.ms"] ?? "10000"
        properties["heartbeat.interval.ms"] = properties["heartbeat.interval.ms"] ?? "1000"
        let clientID = properties.removeValue(forKey: "client.id") ?? "hsnn"
        var configuration = KafkaConsumerConfiguration(
            bootstrapServers: bootstrap, groupID: groupID, clientID: clientID,
            maxPrefetchKilobytes: prefetchKilobytes, statisticsInterval: .seconds(1), properties: properties)
        // The end of every assigned partition lets a partial batch be trained (training.max_batch_delay).
        configuration.reportsPartitionEnd = true
        return configuration
    }

    /// The dead-letter producer's configuration for brokers at `bootstrap`: the entries of
    /// `kafka.properties` that are not consumer-only (as librdkafka's table of properties says;
    /// a producer ignores consumer properties with a `CONFWARN` line), then
    /// `kafka.producer_properties` over them. `client.id` is the producer's own if set there,
    /// else the consumer's with `-dead-letter` appended.
    public func deadLetterConfiguration(bootstrap: String) -> KafkaProducerConfiguration {
        var properties = kafkaProperties.filter { KafkaPropertyScope.of($0.key) != .consumer }
        let consumerClientID = properties.removeValue(forKey: "client.id") ?? "hsnn"
        properties.merge(producerProperties) { _, own in own }
        let clientID = properties.removeValue(forKey: "client.id") ?? consumerClientID + "-dead-letter"
        return KafkaProducerConfiguration(bootstrapServers: bootstrap, clientID: clientID, properties: properties)
    }

    /// `kafka.producer_properties` entries that only a consumer uses, which the dead-letter
    /// producer would ignore.
    public var consumerOnlyProducerProperties: [String] {
        producerProperties.keys.filter { KafkaPropertyScope.of($0) == .consumer }.sorted()
    }

    /// Checks the rules that involve more than one key.
    /// - Throws: ``DaemonSettingsError`` naming the keys and what to change.
    public func validate() throws(DaemonSettingsError) {
        if publishRetryMax < publishRetryInitial {
            throw DaemonSettingsError(
                keys: ["checkpoint.retry_initial_ms", "checkpoint.retry_max_ms"],
                message: """
                    checkpoint.retry_max_ms (\(publishRetryMax.inMilliseconds) ms) is below checkpoint.retry_initial_ms \
                    (\(publishRetryInitial.inMilliseconds) ms); raise checkpoint.retry_max_ms or lower checkpoint.retry_initial_ms.
                    """)
        }
        if let interval = maxPollInterval, pauseAfter * 2 > interval {
            throw DaemonSettingsError(
                keys: ["ingest.pause_after_ms", "kafka.properties.max.poll.interval.ms"],
                message: """
                    ingest.pause_after_ms (\(pauseAfter.inMilliseconds) ms) is more than half of max.poll.interval.ms \
                    (\(interval.inMilliseconds) ms): while the trainer is stalled the poller may wait that long between \
                    polls, and the group evicts a member that does not poll within max.poll.interval.ms. Lower \
                    ingest.pause_after_ms to at most \(interval.inMilliseconds / 2) ms or raise \
                    kafka.properties.max.poll.interval.ms to at least \(2 * pauseAfter.inMilliseconds).
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
        producerProperties = c.stringMap("kafka.producer_properties")
        prefetchKilobytes = c.int("kafka.queued_max_messages_kbytes")
        pollTimeout = c.duration("kafka.poll_timeout_ms")
        queueCapacity = c.int("ingest.queue_capacity")
        pauseAfter = c.duration("ingest.pause_after_ms")
        let aheadOfCatalog = c.duration("ingest.max_ahead_of_catalog_ms")
        maxAheadOfCatalog = aheadOfCatalog > .zero ? aheadOfCatalog : nil
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
        checkpointEverySeconds = every.inSeconds
        checkpointEveryEvents = Int64(c.int("checkpoint.every_events"))
        checkpointKeep = c.int("checkpoint.keep")
        checkpointFileMode = UInt16(c.fileMode("checkpoint.file_mode"))
        checkpointFolderMode = UInt16(c.fileMode("checkpoint.dir_mode"))
        shutdownGrace = c.duration("shutdown.grace_seconds")
        maxBatchDelay = c.duration("training.max_batch_delay")
        failOnDataLoss = c.string("kafka.on_data_loss") == "fail"
        livenessTimeout = c.duration("kafka.liveness_timeout_ms")
        publishRetryInitial = c.duration("checkpoint.retry_initial_ms")
        publishRetryMax = c.duration("checkpoint.retry_max_ms")
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

