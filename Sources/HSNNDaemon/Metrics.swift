import HSNNPipeline
import Metrics
import Synchronization

/// The name of every metric the daemon exports (on `/metrics`, through swift-metrics).
enum MetricName {
    // Training (the trainer thread).
    static let examplesTrained = "hsnn_examples_trained_total"
    static let positivesTrained = "hsnn_positives_trained_total"
    static let eventsProcessed = "hsnn_events_processed_total"
    static let recordsSkipped = "hsnn_records_skipped_total"
    static let trainingIdleSeconds = "hsnn_training_idle_seconds_total"
    static let snapshotPauseSeconds = "hsnn_checkpoint_snapshot_pause_seconds"
    // The impression/click joiner.
    static let joinerDuplicates = "hsnn_joiner_duplicates_total"
    static let joinerUnmatchedClicks = "hsnn_joiner_unmatched_clicks_total"
    static let joinerOverflow = "hsnn_joiner_overflow_total"
    static let joinerJoinedPositive = "hsnn_joiner_joined_positive_total"
    static let joinerExpiredNegative = "hsnn_joiner_expired_negative_total"
    static let joinerPrelabeled = "hsnn_joiner_prelabeled_total"
    static let joinerPendingImpressions = "hsnn_joiner_pending_impressions"
    // Ingest (the Kafka poller).
    static let ingestRecords = "hsnn_ingest_records_total"
    static let ingestPollErrors = "hsnn_ingest_poll_errors_total"
    static let ingestBackpressurePauses = "hsnn_ingest_backpressure_pauses_total"
    static let ingestCatalogPauses = "hsnn_ingest_catalog_pauses_total"
    static let ingestBlockedSeconds = "hsnn_ingest_blocked_seconds_total"
    /// Labels `topic`, `partition`.
    static let ingestRecordsLost = "hsnn_ingest_records_lost_total"
    /// Label `reason`.
    static let ingestMalformed = "hsnn_ingest_malformed_total"
    static let logSuppressed = "hsnn_log_suppressed_total"
    static let deadLetterFailed = "hsnn_dead_letter_failed_total"
    /// Labels `topic`, `partition`.
    static let kafkaConsumerLag = "hsnn_kafka_consumer_lag"
    // Checkpoints.
    static let checkpointPublished = "hsnn_checkpoint_published_total"
    static let checkpointFailed = "hsnn_checkpoint_failed_total"
    static let checkpointPublishAttempts = "hsnn_checkpoint_publish_attempts_total"
    static let checkpointPublishSeconds = "hsnn_checkpoint_publish_seconds"
    static let checkpointBytes = "hsnn_checkpoint_bytes"
    static let checkpointVersion = "hsnn_checkpoint_version"
    static let checkpointRejected = "hsnn_checkpoint_rejected_total"
    // The model.
    static let modelItemsExpired = "hsnn_model_items_expired_total"
    /// Prefix of the model and index statistics gauges (`hsnn_model_live_items`, ...).
    static let modelStatisticPrefix = "hsnn_model_"
}

/// Metrics of one name told apart by label values (or by a name suffix), each created on
/// first use and reused afterwards.
final class MetricFamily<Metric: Sendable>: Sendable {
    private let make: @Sendable ([String]) -> Metric
    private let created = Mutex<[[String]: Metric]>([:])

    /// - Parameter make: creates the metric for a tuple of label values.
    init(_ make: @escaping @Sendable ([String]) -> Metric) { self.make = make }

    /// The metric for `values`, created on first use.
    func callAsFunction(_ values: String...) -> Metric {
        created.withLock { created in
            if let metric = created[values] { return metric }
            let metric = make(values)
            created[values] = metric
            return metric
        }
    }
}

/// The pipeline's and the joiner's counters as metrics: counters advance by what changed
/// between two readings of ``FeedCounters``; the pending-impressions gauge takes the latest
/// value when the joiner has seen the events in between.
struct FeedMetrics: Sendable {
    let examplesTrained = Counter(label: MetricName.examplesTrained)
    let positivesTrained = Counter(label: MetricName.positivesTrained)
    let eventsProcessed = Counter(label: MetricName.eventsProcessed)
    let recordsSkipped = Counter(label: MetricName.recordsSkipped)
    let duplicates = Counter(label: MetricName.joinerDuplicates)
    let unmatchedClicks = Counter(label: MetricName.joinerUnmatchedClicks)
    let overflow = Counter(label: MetricName.joinerOverflow)
    let joinedPositive = Counter(label: MetricName.joinerJoinedPositive)
    let expiredNegative = Counter(label: MetricName.joinerExpiredNegative)
    let prelabeled = Counter(label: MetricName.joinerPrelabeled)
    let pending = Gauge(label: MetricName.joinerPendingImpressions)

    /// Advances the counters from `before` to `after`; with `joinerRan`, also sets the
    /// pending-impressions gauge.
    func record(from before: FeedCounters, to after: FeedCounters, joinerRan: Bool) {
        let (p0, p1, j0, j1) = (before.pipeline, after.pipeline, before.joiner, after.joiner)
        examplesTrained.increment(by: Int(p1.examplesTrained - p0.examplesTrained))
        positivesTrained.increment(by: Int(p1.positivesTrained - p0.positivesTrained))
        eventsProcessed.increment(by: Int(p1.events - p0.events))
        recordsSkipped.increment(by: Int(p1.skippedMalformed - p0.skippedMalformed))
        duplicates.increment(by: Int(j1.duplicates - j0.duplicates))
        unmatchedClicks.increment(by: Int(j1.unmatchedClicks - j0.unmatchedClicks))
        overflow.increment(by: Int(j1.overflow - j0.overflow))
        joinedPositive.increment(by: Int(j1.joinedPositive - j0.joinedPositive))
        expiredNegative.increment(by: Int(j1.expiredNegative - j0.expiredNegative))
        prelabeled.increment(by: Int(j1.prelabeled - j0.prelabeled))
        if joinerRan { pending.record(Double(j1.pendingImpressions)) }
    }
}

/// The trainer thread's own metrics besides the counters.
struct TrainerMetrics: Sendable {
    let feed = FeedMetrics()
    let snapshotPause = Timer(label: MetricName.snapshotPauseSeconds)
    /// Time spent waiting for records: with `hsnn_ingest_blocked_seconds_total` it tells
    /// whether training or ingest limits the rate.
    let idleSeconds = FloatingPointCounter(label: MetricName.trainingIdleSeconds)
}

/// The Kafka poller's metrics.
struct IngestMetrics: Sendable {
    let records = Counter(label: MetricName.ingestRecords)
    let pollErrors = Counter(label: MetricName.ingestPollErrors)
    let pauses = Counter(label: MetricName.ingestBackpressurePauses)
    /// Events partitions paused for running ahead of the catalog.
    let catalogPauses = Counter(label: MetricName.ingestCatalogPauses)
    let blockedSeconds = FloatingPointCounter(label: MetricName.ingestBlockedSeconds)
    let logSuppressed = Counter(label: MetricName.logSuppressed)
    /// By `topic`, `partition`.
    let recordsLost = MetricFamily { Counter(label: MetricName.ingestRecordsLost, dimensions: [("topic", $0[0]), ("partition", $0[1])]) }
    /// By `reason`.
    let malformed = MetricFamily { Counter(label: MetricName.ingestMalformed, dimensions: [("reason", $0[0])]) }
}

/// The checkpoint publisher's metrics.
struct CheckpointMetrics: Sendable {
    let published = Counter(label: MetricName.checkpointPublished)
    let failed = Counter(label: MetricName.checkpointFailed)
    let attempts = Counter(label: MetricName.checkpointPublishAttempts)
    let duration = Timer(label: MetricName.checkpointPublishSeconds)
    let bytes = Gauge(label: MetricName.checkpointBytes)
    let version = Gauge(label: MetricName.checkpointVersion)
    /// Model and index health by statistic name: `index.moves_total` -> `hsnn_model_index_moves_total`.
    let modelStatistic = MetricFamily { Gauge(label: MetricName.modelStatisticPrefix + $0[0].replacing(".", with: "_")) }
}

/// The stream training service's metrics, each created when what it counts first happens.
struct ServiceMetrics: Sendable {
    /// Checkpoint versions skipped at start because they failed verification.
    let checkpointRejected = MetricFamily { _ in Counter(label: MetricName.checkpointRejected) }
    /// The restored version, before the publisher exists.
    let checkpointVersion = MetricFamily { _ in Gauge(label: MetricName.checkpointVersion) }
    /// Consumer lag by `topic`, `partition`.
    let consumerLag = MetricFamily {
        Gauge(label: MetricName.kafkaConsumerLag, dimensions: [("topic", $0[0]), ("partition", $0[1])])
    }
}
