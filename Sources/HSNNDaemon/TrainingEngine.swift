import Foundation
import HSNNEvents
import HSNNStream
import Logging
import Metrics
import Synchronization

/// A learner whose complete state can be captured for a checkpoint.
public protocol CheckpointableLearner: OnlineLearner {
    /// A consistent deep copy, quick to take; written later from another thread.
    func makeSnapshot() -> any LearnerSnapshot
    /// A few cheap figures for progress reports (recent loss, schedule position, ...).
    func progress() -> [String: Double]
}

/// A learner's state captured at one instant, written to a checkpoint folder off the training thread.
public protocol LearnerSnapshot: Sendable {
    /// Writes the state's files into `folder` (which exists and is empty).
    /// - Throws: when a file cannot be written.
    func write(to folder: URL) throws
    /// The model and index configuration, for the manifest.
    var configurationJSON: [String: String] { get }
    /// Index health and other statistics, for the manifest.
    var statistics: [String: Double] { get }
}

/// Everything a checkpoint holds, captured at one instant on the training thread.
public struct EngineSnapshot: Sendable {
    public var learner: any LearnerSnapshot
    public var pipeline: TrainingPipeline.State
    public var takenAt: Date
    /// How long training paused to take it.
    public var pauseSeconds: Double
}

/// Runs the training loop on a dedicated thread: takes decoded records from the ingest
/// queue, feeds the ``TrainingPipeline``, and takes snapshots on the checkpoint cadence.
///
/// `trainingLock` is held while records are processed; a rebalance or shutdown takes it
/// so that it sees no work in flight.
final class TrainingEngine: @unchecked Sendable {
    // @unchecked: `pipeline`, `learner`, `lastSnapshotAt` and `eventsAtLastSnapshot` are
    // only touched with `trainingLock` held.
    private let pipeline: TrainingPipeline
    private let learner: any CheckpointableLearner
    private let queue: IngestQueue<IngestItem>
    private let trainingLock = NSLock()
    private let chunkSize: Int
    private let snapshotEverySeconds: Double
    private let snapshotEveryEvents: Int64
    private let onSnapshot: @Sendable (EngineSnapshot) -> Void
    private let maxBatchDelay: Duration
    /// Set by the poller once every record the broker held is handed over (see ``CaughtUpSignal``).
    private let caughtUp: CaughtUpSignal?
    /// When the partial batch got its first example (nil while it is empty).
    private var partialBatchSince: ContinuousClock.Instant?
    private var lastSnapshotAt = Date()
    private var eventsAtLastSnapshot: Int64
    private let stopRequested = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)
    private let status: DaemonStatusBoard

    private let examplesCounter = Counter(label: "hsnn_examples_trained_total")
    private let positivesCounter = Counter(label: "hsnn_positives_trained_total")
    private let eventsCounter = Counter(label: "hsnn_events_processed_total")
    private let malformedSkipped = Counter(label: "hsnn_records_skipped_total")
    private let snapshotPause = Timer(label: "hsnn_checkpoint_snapshot_pause_seconds")
    /// Time spent waiting for records: with `hsnn_ingest_blocked_seconds_total` it tells
    /// whether training or ingest limits the rate.
    private let idleSeconds = FloatingPointCounter(label: "hsnn_training_idle_seconds_total")
    private let joinerMetrics = JoinerMetrics()

    /// - Parameters:
    ///   - maxBatchDelay: a partial batch older than this is trained once every record the broker
    ///     held is processed (`training.max_batch_delay`); zero turns it off.
    ///   - caughtUp: tells whether the poller has handed over every record the broker held.
    ///   - onSnapshot: called on the training thread with each cadence snapshot; it must hand
    ///     the snapshot off quickly (the writing happens elsewhere).
    init(
        pipeline: TrainingPipeline, learner: any CheckpointableLearner, queue: IngestQueue<IngestItem>, chunkSize: Int = 512,
        maxBatchDelay: Duration = .zero, caughtUp: CaughtUpSignal? = nil, snapshotEverySeconds: Double, snapshotEveryEvents: Int64, status: DaemonStatusBoard,
        onSnapshot: @escaping @Sendable (EngineSnapshot) -> Void
    ) {
        self.maxBatchDelay = maxBatchDelay
        self.caughtUp = caughtUp
        self.pipeline = pipeline
        self.learner = learner
        self.queue = queue
        self.chunkSize = chunkSize
        self.snapshotEverySeconds = snapshotEverySeconds
        self.snapshotEveryEvents = snapshotEveryEvents
        self.status = status
        self.onSnapshot = onSnapshot
        self.eventsAtLastSnapshot = pipeline.counters.events
    }

    /// Starts the training thread.
    func start() {
        let thread = Thread { [self] in
            Thread.current.name = "hsnn-trainer"  // named from inside: Linux ignores a name set before start
            self.loop()
            self.finished.signal()
        }
        thread.name = "hsnn-trainer"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Stops the loop after its current chunk and waits until it has. Records still
    /// queued are not processed: their offsets are not in the state, so they are read
    /// again after a restart.
    func stop() {
        stopRequested.withLock { $0 = true }
        queue.close()
        finished.wait()
    }

    private func loop() {
        while !stopRequested.withLock({ $0 }) {
            let waitStart = ContinuousClock.now
            let items = queue.take(max: chunkSize, timeout: 0.2)
            let waited = waitStart.duration(to: .now)
            let idle = Double(waited.components.seconds) + Double(waited.components.attoseconds) * 1e-18
            idleSeconds.increment(by: idle)
            status.modify { $0.trainerIdleSeconds += idle }
            if items.isEmpty {
                if queue.isClosed { break }
                trainPartialBatchIfDue()
                snapshotIfDue()
                continue
            }
            trainingLock.lock()
            let before = pipeline.counters
            let joinerBefore = pipeline.joiner.counters
            for item in items {
                switch item.payload {
                case .event(let event): pipeline.process(event, from: item.partition, offset: item.offset)
                case .malformed: pipeline.skip(from: item.partition, offset: item.offset)
                }
            }
            let after = pipeline.counters
            let joinerAfter = pipeline.joiner.counters
            status.update(pipeline: after, joiner: pipeline.joiner.counters, offsets: pipeline.nextOffsets,
                          learner: learner.progress())
            if after.waitingInBatch == 0 {
                partialBatchSince = nil
            } else if partialBatchSince == nil || after.batches != before.batches {
                partialBatchSince = .now
            }
            trainingLock.unlock()
            examplesCounter.increment(by: Int(after.examplesTrained - before.examplesTrained))
            positivesCounter.increment(by: Int(after.positivesTrained - before.positivesTrained))
            eventsCounter.increment(by: Int(after.events - before.events))
            malformedSkipped.increment(by: Int(after.skippedMalformed - before.skippedMalformed))
            joinerMetrics.record(before: joinerBefore, after: joinerAfter)
            snapshotIfDue()
        }
    }

    /// Trains the partial batch when it has waited `maxBatchDelay`, the poller has reached the
    /// end of every assigned partition and nothing is queued: a quiet stream leaves nothing
    /// untrained, while a backlog is cut by batch size alone until its end, so replaying the same
    /// records cuts the same batches.
    private func trainPartialBatchIfDue() {
        guard maxBatchDelay > .zero, caughtUp?.isCaughtUp ?? true else { return }
        trainingLock.lock()
        let before = pipeline.counters
        // A partial batch restored from a checkpoint or filled by a rebalance starts its clock here.
        if before.waitingInBatch > 0, partialBatchSince == nil { partialBatchSince = .now }
        guard before.waitingInBatch > 0, let since = partialBatchSince, since.duration(to: .now) >= maxBatchDelay,
              queue.count == 0
        else {
            trainingLock.unlock()
            return
        }
        pipeline.trainPartialBatch()
        let after = pipeline.counters
        status.update(pipeline: after, joiner: pipeline.joiner.counters, offsets: pipeline.nextOffsets,
                      learner: learner.progress())
        partialBatchSince = nil
        trainingLock.unlock()
        examplesCounter.increment(by: Int(after.examplesTrained - before.examplesTrained))
        positivesCounter.increment(by: Int(after.positivesTrained - before.positivesTrained))
    }

    private func snapshotIfDue() {
        trainingLock.lock()
        let events = pipeline.counters.events
        let dueByEvents = snapshotEveryEvents > 0 && events - eventsAtLastSnapshot >= snapshotEveryEvents
        let dueByTime = snapshotEverySeconds > 0 && events > eventsAtLastSnapshot
            && Date().timeIntervalSince(lastSnapshotAt) >= snapshotEverySeconds
        guard dueByEvents || dueByTime else {
            trainingLock.unlock()
            return
        }
        let snapshot = takeSnapshotLocked()
        trainingLock.unlock()
        onSnapshot(snapshot)
    }

    /// Pauses training between chunks and captures learner and pipeline state together.
    func snapshot() -> EngineSnapshot {
        trainingLock.lock(); defer { trainingLock.unlock() }
        return takeSnapshotLocked()
    }

    private func takeSnapshotLocked() -> EngineSnapshot {
        let start = ContinuousClock.now
        let learnerSnapshot = learner.makeSnapshot()
        let state = pipeline.state()
        let pause = start.duration(to: .now)
        let seconds = Double(pause.components.seconds) + Double(pause.components.attoseconds) * 1e-18
        snapshotPause.recordNanoseconds(Int64(seconds * 1e9))
        lastSnapshotAt = Date()
        eventsAtLastSnapshot = state.counters.events
        return EngineSnapshot(learner: learnerSnapshot, pipeline: state, takenAt: lastSnapshotAt, pauseSeconds: seconds)
    }

    /// Runs `body` with training paused between chunks (rebalances).
    func withTrainingPaused<T>(_ body: (TrainingPipeline) throws -> T) rethrows -> T {
        trainingLock.lock(); defer { trainingLock.unlock() }
        return try body(pipeline)
    }
}

/// The impression/click joiner's counters as Prometheus metrics.
struct JoinerMetrics {
    let duplicates = Counter(label: "hsnn_joiner_duplicates_total")
    let unmatchedClicks = Counter(label: "hsnn_joiner_unmatched_clicks_total")
    let overflow = Counter(label: "hsnn_joiner_overflow_total")
    let joinedPositive = Counter(label: "hsnn_joiner_joined_positive_total")
    let expiredNegative = Counter(label: "hsnn_joiner_expired_negative_total")
    let prelabeled = Counter(label: "hsnn_joiner_prelabeled_total")
    let pending = Gauge(label: "hsnn_joiner_pending_impressions")

    func record(before: JoinerCounters, after: JoinerCounters) {
        duplicates.increment(by: Int(after.duplicates - before.duplicates))
        unmatchedClicks.increment(by: Int(after.unmatchedClicks - before.unmatchedClicks))
        overflow.increment(by: Int(after.overflow - before.overflow))
        joinedPositive.increment(by: Int(after.joinedPositive - before.joinedPositive))
        expiredNegative.increment(by: Int(after.expiredNegative - before.expiredNegative))
        prelabeled.increment(by: Int(after.prelabeled - before.prelabeled))
        pending.record(Double(after.pendingImpressions))
    }
}
