/// Counters of the pipeline (the joiner keeps its own).
public struct PipelineCounters: Sendable, Hashable, Codable {
    /// Events handed to the pipeline (decoded successfully).
    public var events: Int64 = 0
    public var itemUpserts: Int64 = 0
    public var itemDeletes: Int64 = 0
    /// Examples trained on.
    public var examplesTrained: Int64 = 0
    public var positivesTrained: Int64 = 0
    /// Mini-batches trained.
    public var batches: Int64 = 0
    /// Records skipped because they could not be decoded.
    public var skippedMalformed: Int64 = 0
    /// Labelled examples waiting for their mini-batch to fill (trained with the next ones).
    public var waitingInBatch: Int64 = 0

    public init() {}
}

/// Everything the pipeline counts: its own counters and its joiner's, read together. The
/// daemon turns one reading into metrics, the `/status` document and checkpoint manifests.
public struct FeedCounters: Sendable, Hashable {
    public var pipeline: PipelineCounters
    public var joiner: JoinerCounters

    public init(pipeline: PipelineCounters, joiner: JoinerCounters) {
        self.pipeline = pipeline
        self.joiner = joiner
    }
}
