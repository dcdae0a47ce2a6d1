import Foundation
import HSNNEvents
import HSNNPipeline
import Logging
import Metrics
import Synchronization
import HSNNSupport

/// Everything a checkpoint holds, captured at one instant on the training thread.
public struct TrainerSnapshot: Sendable {
    public var learner: any LearnerSnapshot
    public var pipeline: LearnerFeed.State
    public var takenAt: Date
    /// How long training paused to take it.
    public var pauseSeconds: Double
}

/// Runs the training loop on a dedicated thread: takes decoded records from the ingest
/// queue, feeds the ``LearnerFeed``, and takes snapshots on the checkpoint cadence.
///
/// `trainingLock` is held while records are processed; a rebalance or shutdown takes it
/// so that it sees no work in flight.
final class TrainerThread: @unchecked Sendable {
    // @unchecked: `pipeline`, `learner`, `lastSnapshotAt` and `eventsAtLastSnapshot` are
    // only touched with `trainingLock` held.
    private let pipeline: LearnerFeed
    private let learner: any CheckpointableLearner
    private let queue: IngestQueue<IngestItem>
    private let trainingLock = NSLock()
    private let chunkSize: Int
    private let snapshotEverySeconds: Double
    private let snapshotEveryEvents: Int64
    private let onSnapshot: @Sendable (TrainerSnapshot) -> Void
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

    private let metrics = TrainerMetrics()

    /// - Parameters:
    ///   - maxBatchDelay: a partial batch older than this is trained once every record the broker
    ///     held is processed (`training.max_batch_delay`); zero turns it off.
    ///   - caughtUp: tells whether the poller has handed over every record the broker held.
    ///   - onSnapshot: called on the training thread with each cadence snapshot; it must hand
    ///     the snapshot off quickly (the writing happens elsewhere).
    init(
        pipeline: LearnerFeed, learner: any CheckpointableLearner, queue: IngestQueue<IngestItem>, chunkSize: Int = 512,
        maxBatchDelay: Duration = .zero, caughtUp: CaughtUpSignal? = nil, snapshotEverySeconds: Double, snapshotEveryEvents: Int64, status: DaemonStatusBoard,
        onSnapshot: @escaping @Sendable (TrainerSnapshot) -> Void
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
            let idle = waited.inSeconds
            metrics.idleSeconds.increment(by: idle)
            status.modify { $0.trainerIdleSeconds += idle }
            if items.isEmpty {
                if queue.isClosed { break }
                trainPartialBatchIfDue()
                snapshotIfDue()
                continue
            }
            trainingLock.lock()
            let before = pipeline.allCounters
            for item in items {
                switch item.payload {
                case .event(let event): pipeline.process(event, from: item.partition, offset: item.offset)
                case .malformed: pipeline.skip(from: item.partition, offset: item.offset)
                }
            }
            let after = pipeline.allCounters
            status.update(counters: after, offsets: pipeline.nextOffsets, learner: learner.progress())
            if after.pipeline.waitingInBatch == 0 {
                partialBatchSince = nil
            } else if partialBatchSince == nil || after.pipeline.batches != before.pipeline.batches {
                partialBatchSince = .now
            }
            trainingLock.unlock()
            metrics.feed.record(from: before, to: after, joinerRan: true)
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
        let before = pipeline.allCounters
        // A partial batch restored from a checkpoint or filled by a rebalance starts its clock here.
        if before.pipeline.waitingInBatch > 0, partialBatchSince == nil { partialBatchSince = .now }
        guard before.pipeline.waitingInBatch > 0, let since = partialBatchSince, since.duration(to: .now) >= maxBatchDelay,
              queue.count == 0
        else {
            trainingLock.unlock()
            return
        }
        pipeline.trainPartialBatch()
        let after = pipeline.allCounters
        status.update(counters: after, offsets: pipeline.nextOffsets, learner: learner.progress())
        partialBatchSince = nil
        trainingLock.unlock()
        // Only the batch was trained: the joiner's gauge keeps the value of the last chunk.
        metrics.feed.record(from: before, to: after, joinerRan: false)
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
    func snapshot() -> TrainerSnapshot {
        trainingLock.lock(); defer { trainingLock.unlock() }
        return takeSnapshotLocked()
    }

    private func takeSnapshotLocked() -> TrainerSnapshot {
        let start = ContinuousClock.now
        let learnerSnapshot = learner.makeSnapshot()
        let state = pipeline.state()
        let pause = start.duration(to: .now)
        let seconds = pause.inSeconds
        metrics.snapshotPause.recordNanoseconds(Int64(seconds * 1e9))
        lastSnapshotAt = Date()
        eventsAtLastSnapshot = state.counters.events
        return TrainerSnapshot(learner: learnerSnapshot, pipeline: state, takenAt: lastSnapshotAt, pauseSeconds: seconds)
    }

    /// Runs `body` with training paused between chunks (rebalances).
    func withTrainingPaused<T>(_ body: (LearnerFeed) throws -> T) rethrows -> T {
        trainingLock.lock(); defer { trainingLock.unlock() }
        return try body(pipeline)
    }
}
