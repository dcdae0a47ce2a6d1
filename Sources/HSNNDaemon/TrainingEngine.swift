import Foundation
import HSNNEvents
import HSNNStream
import Logging
import Metrics
import Synchronization

/// One decoded record on its way from the poller to the trainer.
struct IngestItem: Sendable {
    enum Payload: Sendable {
        case event(Event)
        /// The record could not be used; it still advances the offset.
        case malformed
    }

    var partition: StreamPartition
    var offset: Int64
    var payload: Payload
}

/// A learner whose complete state can be captured for a checkpoint.
public protocol SnapshottingLearner: OnlineLearner {
    associatedtype Snapshot: Sendable
    /// A consistent deep copy, quick to take; written later from another thread.
    func makeSnapshot() -> Snapshot
}

/// Everything a checkpoint holds, captured at one instant on the training thread.
public struct EngineSnapshot<LearnerSnapshot: Sendable>: Sendable {
    public var learner: LearnerSnapshot
    public var pipeline: TrainingPipeline.State
    public var takenAt: Date
    /// How long training paused to take it.
    public var pauseSeconds: Double
}

/// Runs the training loop on a dedicated thread: takes decoded records from the ingest
/// queue, feeds the ``TrainingPipeline``, and takes snapshots on the checkpoint cadence.
///
/// `trainingLock` is held while records are processed; the polling thread takes it on a
/// rebalance so that revocation sees no work in flight.
final class TrainingEngine<Learner: SnapshottingLearner>: @unchecked Sendable {
    // @unchecked: `pipeline`, `learner`, `lastSnapshotAt` and `eventsAtLastSnapshot` are
    // only touched with `trainingLock` held.
    let pipeline: TrainingPipeline
    let learner: Learner
    let queue: IngestQueue<IngestItem>
    let trainingLock = NSLock()
    private let logger: Logger
    private let chunkSize: Int
    private let snapshotEverySeconds: Double
    private let snapshotEveryEvents: Int64
    private let onSnapshot: @Sendable (EngineSnapshot<Learner.Snapshot>) -> Void
    private var lastSnapshotAt = Date()
    private var eventsAtLastSnapshot: Int64 = 0
    private let stopRequested = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)
    private let status: DaemonStatusBoard

    private let examplesCounter = Counter(label: "hsnn_examples_trained_total")
    private let positivesCounter = Counter(label: "hsnn_positives_trained_total")
    private let eventsCounter = Counter(label: "hsnn_events_processed_total")
    private let snapshotPause = Timer(label: "hsnn_checkpoint_snapshot_pause_seconds")

    init(
        pipeline: TrainingPipeline, learner: Learner, queue: IngestQueue<IngestItem>, chunkSize: Int = 512,
        snapshotEverySeconds: Double, snapshotEveryEvents: Int64, status: DaemonStatusBoard, logger: Logger,
        onSnapshot: @escaping @Sendable (EngineSnapshot<Learner.Snapshot>) -> Void
    ) {
        self.pipeline = pipeline
        self.learner = learner
        self.queue = queue
        self.chunkSize = chunkSize
        self.snapshotEverySeconds = snapshotEverySeconds
        self.snapshotEveryEvents = snapshotEveryEvents
        self.status = status
        self.logger = logger
        self.onSnapshot = onSnapshot
        self.eventsAtLastSnapshot = pipeline.counters.events
    }

    /// Starts the training thread.
    func start() {
        let thread = Thread { [self] in
            self.loop()
            self.finished.signal()
        }
        thread.name = "hsnn-trainer"
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Asks the loop to stop after its current chunk; waits until it has.
    func stop() {
        stopRequested.withLock { $0 = true }
        queue.close()
        finished.wait()
    }

    private func loop() {
        while !stopRequested.withLock({ $0 }) {
            let items = queue.take(max: chunkSize, timeout: 0.2)
            if items.isEmpty {
                if queue.isClosed { break }
                snapshotIfDue()
                continue
            }
            trainingLock.lock()
            let before = pipeline.counters
            for item in items {
                switch item.payload {
                case .event(let event): pipeline.process(event, from: item.partition, offset: item.offset)
                case .malformed: pipeline.skip(from: item.partition, offset: item.offset)
                }
            }
            let after = pipeline.counters
            status.update(pipeline: after, joiner: pipeline.joiner.counters, offsets: pipeline.nextOffsets)
            trainingLock.unlock()
            examplesCounter.increment(by: Int(after.examplesTrained - before.examplesTrained))
            positivesCounter.increment(by: Int(after.positivesTrained - before.positivesTrained))
            eventsCounter.increment(by: Int(after.events - before.events))
            snapshotIfDue()
        }
    }

    private func snapshotIfDue() {
        trainingLock.lock()
        guard isSnapshotDue() else {
            trainingLock.unlock()
            return
        }
        let snapshot = takeSnapshotLocked()
        trainingLock.unlock()
        onSnapshot(snapshot)
    }

    private func isSnapshotDue() -> Bool {
        let events = pipeline.counters.events
        let dueByEvents = snapshotEveryEvents > 0 && events - eventsAtLastSnapshot >= snapshotEveryEvents
        let dueByTime = snapshotEverySeconds > 0 && Date().timeIntervalSince(lastSnapshotAt) >= snapshotEverySeconds
            && events > eventsAtLastSnapshot
        return dueByEvents || dueByTime
    }

    /// Pauses training between chunks and captures learner and pipeline state together
    /// (rebalance, shutdown, and the cadence above).
    func snapshot() -> EngineSnapshot<Learner.Snapshot> {
        trainingLock.lock(); defer { trainingLock.unlock() }
        return takeSnapshotLocked()
    }

    private func takeSnapshotLocked() -> EngineSnapshot<Learner.Snapshot> {
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

    /// Runs `body` with training paused between chunks (used on rebalance).
    func withTrainingPaused<T>(_ body: (TrainingPipeline) throws -> T) rethrows -> T {
        trainingLock.lock(); defer { trainingLock.unlock() }
        return try body(pipeline)
    }
}
