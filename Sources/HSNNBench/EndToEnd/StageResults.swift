/// One stage's throughput measured alone.
struct StageRate: Codable, Sendable {
    var stage: String
    var what: String
    /// Stream events per second of wall time (median of the runs).
    var eventsPerSecond: Double
    /// Stream events per second of CPU time: the rate of the cores it used, unaffected by other processes.
    var eventsPerCpuSecond: Double
    /// Labelled examples per second, for the stages that train.
    var examplesPerSecond: Double?
    /// Threads doing the work.
    var threads: Int
    var runs: Int
    /// This stage's events/s divided by the end-to-end events/s (filled in at the end).
    var ratioToEndToEnd: Double?
    /// This stage's events/cpu-s divided by the end-to-end events/cpu-s of the whole process.
    var cpuRatioToEndToEnd: Double?
}

/// Every stage measured alone, and what the measured slice of the stream holds.
struct StageResults: Sendable {
    var events: Int
    var examples: Int
    var meanMessageBytes: Double
    var rates: [StageRate]
}
