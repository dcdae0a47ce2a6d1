/// What `hsnn bench e2e` measured: the stages alone, the end-to-end run, checkpoints,
/// backpressure and resident memory. ``text`` renders it for people, ``jsonText()`` for scripts.
public struct E2EReport: Codable {
    struct Machine: Codable {
        var processors: Int
        var loadAverageBefore: [Double]
        var loadAverageAfter: [Double]
    }

    struct Stream: Codable {
        var seed: UInt64
        var clickEvents: Bool
        var impressions: Int
        var users: Int
        var items: Int
        var stageEvents: Int
        var stageExamples: Int
        var meanMessageBytes: Double
        /// Where the end-to-end run's events went.
        var broker: String
    }

    struct EndToEnd: Codable {
        var seconds: Double
        /// Events per second from the end of the first quarter (warm) to the end.
        var eventsPerSecond: Double
        /// Events per CPU-second of the whole process (every thread: broker, producer, poller, trainer,
        /// publisher) over the same window.
        var eventsPerCpuSecond: Double
        var examplesPerSecond: Double
        /// Over the whole run, warm-up included.
        var eventsPerSecondOverall: Double
        var eventsProcessed: Int64
        var examplesTrained: Int64
        var eventsProduced: Int64
        var producerExhaustedAtSeconds: Double?
        var producerError: String?
        var recordsLost: Int64
        /// Process CPU time over wall time (200% = two cores).
        var cpuPercent: Double
        /// The stage that limits the end-to-end rate, named from the shares measured after warm-up
        /// (``Backpressure/trainerBusyShare``, ``Backpressure/pollerBlockedShare``), with the figures.
        var bottleneck: String
        /// The slowest stage measured alone (per CPU-second), for comparison.
        var slowestStageAlone: String
        /// CPU time by thread name after warm-up (threads that exited are missing).
        var threads: [ThreadShare]
        var finalLoss: Double?
        var liveItems: Double?
    }

    struct Checkpoints: Codable {
        var cadenceSeconds: Double
        var published: Int
        var failed: Int64
        var bytes: Double?
        var pauseMedianMs: Double?
        var pauseMaxMs: Double?
        var pausesMs: [Double]
        /// Median pause of the first and of the last quarter of the publishes (the joiner state it copies grows).
        var pauseFirstQuarterMedianMs: Double?
        var pauseLastQuarterMedianMs: Double?
        var publishMedianSeconds: Double?
        var publishMaxSeconds: Double?
    }

    struct Backpressure: Codable {
        /// Most events the producer keeps ahead of the daemon in one partition, and the largest leads seen.
        var producerLeadLimitPerPartition: Int
        var producerMaxPartitionLead: Int64
        var producerMaxTotalLead: Int64
        var queueCapacity: Int
        /// Records polled but not yet trained (queue + poller hold + chunk in training), at most.
        var maxPolledNotTrained: Int64
        /// Partition pauses over the whole run: each one means the trainer took nothing from the full
        /// queue for `ingest.pause_after_ms`.
        var pauses: Int64
        var pauseAfterMs: Int64
        var secondsPaused: Double
        var shareOfTimePaused: Double
        /// After warm-up: share of the time the training thread was busy (not waiting for records).
        var trainerBusyShare: Double
        /// After warm-up: share of the time the poller waited for room in the full ingest queue.
        var pollerBlockedShare: Double
        /// Share of the run with less than one training chunk (512 records) polled and not yet trained
        /// (sampled every 250 ms): the trainer (nearly) ran out of input then.
        var shareOfTimeTrainerStarved: Double
        /// Consumer lag from librdkafka's statistics at the end, summed over partitions: measured
        /// against the offsets committed after the last checkpoint, so it includes what was trained since.
        var kafkaLagAtEnd: Int64
    }

    struct Memory: Codable {
        var sampleEverySeconds: Double
        var samples: [MemorySample]
        var warmAtSeconds: Double
        var rssWarmMiB: Double
        var rssEndMiB: Double
        var rssMaxMiB: Double
        /// From the sample at the end of the first quarter to the last sample.
        var growthAfterWarmPercent: Double
        /// Least-squares slope of RSS over the samples after warm-up.
        var slopeAfterWarmMiBPerMinute: Double
        /// Least-squares slope of RSS over the second half of the run.
        var slopeSecondHalfMiBPerMinute: Double
        /// Medians of the samples in the second and in the last quarter of the run: a checkpoint
        /// snapshot in flight adds its size for a moment, medians do not see those peaks.
        var secondQuarterMedianMiB: Double
        var lastQuarterMedianMiB: Double
        var medianGrowthPercent: Double
        var flatThresholdPercent: Double
        /// `medianGrowthPercent` below `flatThresholdPercent`.
        var flatOnceWarm: Bool
        var joinerPendingImpressions: Int
        var eventIdsRemembered: Int64
        var dedupeCapacity: Int
    }

    var benchmark = "e2e"
    var date: String
    var machine: Machine
    var blas: BenchBLAS
    var stream: Stream
    var stages: [StageRate]
    var endToEnd: EndToEnd
    var checkpoints: Checkpoints
    var backpressure: Backpressure
    var memory: Memory
}
