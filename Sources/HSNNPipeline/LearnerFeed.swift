import HSNNEvents

/// Turns an ordered stream of events into model updates, and knows exactly which
/// source offsets the model state reflects.
///
/// Item events update the catalog at once; impressions and clicks go through the
/// ``ImpressionClickJoiner``; labelled examples are trained in mini-batches of exactly
/// ``batchSize`` in arrival order, unless the owner cuts a partial batch with
/// ``trainPartialBatch()`` (the daemon does when the stream goes quiet). Batch boundaries
/// depend only on the input and those cuts, and the partial batch is part of the ``State``:
/// resuming from a state and feeding the remaining events trains exactly what an
/// uninterrupted run trains.
///
/// Not thread-safe: one owner (the training thread) drives it.
public final class LearnerFeed {
    public let learner: any OnlineLearner
    public let joiner: ImpressionClickJoiner
    public let batchSize: Int
    public private(set) var counters = PipelineCounters()
    /// The pipeline's and the joiner's counters, read together.
    public var allCounters: FeedCounters { FeedCounters(pipeline: counters, joiner: joiner.counters) }
    /// For each partition, the next offset whose event is not yet reflected in the state.
    public private(set) var nextOffsets: [StreamPartition: Int64] = [:]
    private var batch: [LabeledExample] = []
    private var joined: [LabeledExample] = []

    public init(learner: any OnlineLearner, joiner: ImpressionClickJoiner, batchSize: Int) {
        precondition(batchSize > 0, "batch size must be positive")
        self.learner = learner
        self.joiner = joiner
        self.batchSize = batchSize
        batch.reserveCapacity(batchSize)
    }

    /// Processes one decoded event read at `offset` of `source`.
    public func process(_ event: Event, from source: StreamPartition, offset: Int64) {
        counters.events += 1
        switch event {
        case .item(let item):
            if item.op == .upsert { counters.itemUpserts += 1 } else { counters.itemDeletes += 1 }
            learner.apply(item)
        case .impression, .click:
            joiner.process(event, partition: source.partition, into: &joined)
            drainJoined()
        }
        markProcessed(source, offset: offset)
    }

    /// Records that the record at `offset` of `source` was skipped (it could not be decoded).
    public func skip(from source: StreamPartition, offset: Int64) {
        counters.skippedMalformed += 1
        markProcessed(source, offset: offset)
    }

    /// The partition was revoked: its watermark no longer counts.
    public func removePartition(_ source: StreamPartition) {
        joiner.removePartition(source.partition, into: &joined)
        drainJoined()
    }

    /// Trains the labelled examples waiting for their mini-batch to fill now, as a smaller
    /// batch (pending impressions stay in the joiner). Offsets and counters stay exact: the
    /// examples' events are already reflected in ``nextOffsets``, and the state afterwards
    /// holds no partial batch.
    public func trainPartialBatch() {
        trainBatch()
    }

    /// End of a finite input: expire every pending impression and train the partial batch.
    public func finish() {
        joiner.flush(into: &joined)
        drainJoined()
        trainBatch()
    }

    private func markProcessed(_ source: StreamPartition, offset: Int64) {
        let next = offset + 1
        if next > nextOffsets[source] ?? .min { nextOffsets[source] = next }
    }

    private func drainJoined() {
        for example in joined {
            batch.append(example)
            if batch.count == batchSize { trainBatch() }
        }
        joined.removeAll(keepingCapacity: true)
        counters.waitingInBatch = Int64(batch.count)
    }

    private func trainBatch() {
        guard !batch.isEmpty else { return }
        learner.train(batch)
        counters.batches += 1
        counters.examplesTrained += Int64(batch.count)
        for example in batch where example.clicked { counters.positivesTrained += 1 }
        batch.removeAll(keepingCapacity: true)
        counters.waitingInBatch = 0
    }

    // MARK: - State

    /// The pipeline's own state (the learner's is saved separately).
    public struct State: Sendable, Codable, Hashable {
        public var counters: PipelineCounters
        public var nextOffsets: [StreamPartition: Int64]
        public var partialBatch: [LabeledExample]
        public var joiner: ImpressionClickJoiner.State

        /// The pipeline's and the joiner's counters in this state.
        public var allCounters: FeedCounters { FeedCounters(pipeline: counters, joiner: joiner.counters) }
    }

    /// A copy of the state, consistent with the learner's state at this instant.
    public func state() -> State {
        State(counters: counters, nextOffsets: nextOffsets, partialBatch: batch, joiner: joiner.state())
    }

    /// Rebuilds a pipeline around `learner` (restored from the same checkpoint) and `state`.
    public convenience init(learner: any OnlineLearner, joinerConfiguration: JoinerConfiguration, batchSize: Int, state: State) {
        self.init(learner: learner, joiner: ImpressionClickJoiner(configuration: joinerConfiguration, state: state.joiner), batchSize: batchSize)
        counters = state.counters
        nextOffsets = state.nextOffsets
        batch = state.partialBatch
    }
}
