/// Training counters of a ``RetrievalModel``.
public struct TrainingCounters: Sendable, Hashable, Codable {
    public var examplesTrained: Int64 = 0
    public var positivesTrained: Int64 = 0
    public var batches: Int64 = 0
    public var itemUpserts: Int64 = 0
    public var itemDeletes: Int64 = 0
    /// Deletes of items the model never saw (ignored).
    public var unknownDeletes: Int64 = 0
    /// Position in the temperature schedule, in trained events (restarts softly on drift).
    public var scheduleEvents: Int64 = 0
    /// Latest event time seen (ms since the epoch); the clock of the cross features at serving.
    public var nowMs: Int64 = 0
    /// Bumped at every weight update (invalidates serving caches).
    public var weightsVersion: Int64 = 0
    /// Mean loss of the last batch (item level BCE) and of the whole objective.
    public var lastItemLoss: Float = 0
    /// Mean retrieval loss of the last batch (item level sampled softmax).
    public var lastRetrievalLoss: Float = 0
    public var lastTotalLoss: Float = 0
    public var lastReconstructionLoss: Float = 0
    public var lastBalance: Float = 0
    public var lastAlpha: Float = 0
    public init() {}
}
