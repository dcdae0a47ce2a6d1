import HSNNDaemon

/// What the long run measured.
struct EndToEndResult: Sendable {
    var samples: [MemorySample]
    var measuredSeconds: Double
    var eventsProcessed: Int64
    var examplesTrained: Int64
    var produced: Int64
    var producerExhaustedAt: Double?
    var producerError: String?
    /// Most events the producer kept ahead in one partition.
    var leadLimit: Int
    var partitions: Int
    /// Records polled from Kafka but not yet trained (queue + held by the poller + the chunk in training), at most.
    var maxInProcess: Int64
    var queueCapacity: Int
    var secondsPaused: Double
    /// Time with less than one training chunk polled and not yet trained (sampled every 250 ms).
    var secondsStarved: Double
    var backpressurePauses: Int64
    var maxPartitionLead: Int64
    var maxTotalLead: Int64
    var snapshotPauses: [Double]
    var publishSeconds: [Double]
    var publishFailures: Int64
    var checkpointBytes: Double?
    var finalStatus: DaemonStatusBoard.Status
    /// Records whose offsets the model reflects but that never reached the pipeline (0 unless the mock
    /// broker dropped unread messages).
    var recordsLost: Int64
    var cpuSeconds: Double
    /// Where the CPU time went after warm-up, by thread name.
    var threads: [ThreadShare]
}

/// CPU time of the threads sharing one name over the warm part of the long run.
struct ThreadShare: Codable, Sendable {
    var thread: String
    var cpuSeconds: Double
    /// Share of the process's CPU time over the same window.
    var percentOfProcess: Double
    /// CPU seconds per wall second (1 = one core busy all the time).
    var cores: Double
}

/// One resident-memory sample of the long run.
struct MemorySample: Codable, Sendable {
    var seconds: Double
    var rssMiB: Double
    var eventsProcessed: Int64
    var examplesTrained: Int64
    /// Events per second since the previous sample.
    var eventsPerSecond: Double
    /// Process CPU time over wall time since the previous sample (200% = two cores busy).
    var cpuPercent: Double
    /// Process CPU seconds since the run started.
    var cpuSeconds: Double
    var pausedForBackpressure: Bool
    /// Partition pauses since the start (the trainer took nothing from the full queue for `ingest.pause_after_ms`).
    var backpressurePauses: Int64
    /// Seconds since the start the training thread waited for records.
    var trainerIdleSeconds: Double
    /// Seconds since the start the poller waited for room in the full ingest queue.
    var ingestBlockedSeconds: Double
    var modelVersion: Int64?
}
