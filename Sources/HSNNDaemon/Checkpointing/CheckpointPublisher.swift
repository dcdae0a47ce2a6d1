import Foundation
import HSNNCheckpoint
import HSNNPipeline
import Logging
import Metrics
import Synchronization
import HSNNSupport

/// Writes trainer snapshots as checkpoint versions, off the training thread.
///
/// Cadence snapshots are handed to ``submit(_:)`` and written by a background thread
/// (when one is still being written, a newer one replaces the waiting one). Rebalances
/// and shutdown use ``publishNow(_:)``. Publishes never overlap. After each success the
/// offsets it reflects are committed to the group, so lag tools keep working; a failure is
/// logged and counted, leaves `LATEST` as it was, and the background thread publishes the
/// same snapshot again after `retryInitial`, doubling the wait up to `retryMax`, whether or
/// not events arrive, until it succeeds or a newer snapshot replaces it.
final class CheckpointPublisher: @unchecked Sendable {
    // @unchecked: `publishLock` serialises every publish; `waiting`, `lastPublishedAt` and
    // `stopped` are behind Mutexes; `retry` and `retryDelay` belong to the background thread.
    private let store: CheckpointStore
    private let logger: Logger
    private let status: DaemonStatusBoard
    private let commit: @Sendable ([StreamPartition: Int64]) -> Void
    private let publishLock = NSLock()
    private let waiting = Mutex<TrainerSnapshot?>(nil)
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)
    private let metrics = CheckpointMetrics()
    private let retryInitial: Duration
    private let retryMax: Duration
    /// When the newest published snapshot was taken: an older one is never published after it.
    private let lastPublishedAt = Mutex<Date?>(nil)
    /// The pipeline state `LATEST` holds (restored or last published): a snapshot equal to it
    /// has nothing new and is not published again. Only touched with `publishLock` held.
    private var latestState: LearnerFeed.State?
    /// The snapshot whose publish failed and when to try it again (background thread only).
    private var retry: (snapshot: TrainerSnapshot, at: ContinuousClock.Instant)?
    private var retryDelay: Duration

    /// - Parameters:
    ///   - retryInitial: wait before publishing a failed snapshot again (`checkpoint.retry_initial_ms`).
    ///   - retryMax: longest wait between retries (`checkpoint.retry_max_ms`).
    ///   - latestState: the pipeline state of the version `LATEST` names (restored at start), if any.
    init(store: CheckpointStore, status: DaemonStatusBoard, logger: Logger,
         retryInitial: Duration = .seconds(1), retryMax: Duration = .seconds(60), latestState: LearnerFeed.State? = nil,
         commit: @escaping @Sendable ([StreamPartition: Int64]) -> Void) {
        self.latestState = latestState
        self.store = store
        self.status = status
        self.logger = logger
        self.commit = commit
        self.retryInitial = retryInitial
        self.retryMax = max(retryMax, retryInitial)
        self.retryDelay = retryInitial
    }

    func start() {
        let thread = Thread { [self] in
            Thread.current.name = "hsnn-publisher"  // named from inside: Linux ignores a name set before start
            while true {
                if let retry {
                    let wait = ContinuousClock.now.duration(to: retry.at)
                    if wait > .zero {
                        let nanoseconds = wait.inNanoseconds
                        _ = wake.wait(timeout: .now() + .nanoseconds(Int(nanoseconds)))
                    }
                } else {
                    wake.wait()
                }
                if stopped.withLock({ $0 }) { break }
                if let snapshot = waiting.withLock({ s -> TrainerSnapshot? in defer { s = nil }; return s }) {
                    // A newer snapshot replaces the one waiting for a retry.
                    retry = nil
                    retryDelay = retryInitial
                    publishInBackground(snapshot)
                } else if let pending = retry, ContinuousClock.now >= pending.at {
                    publishInBackground(pending.snapshot)
                }
            }
            status.modify { $0.nextPublishRetryAt = nil }
            finished.signal()
        }
        thread.name = "hsnn-publisher"
        thread.start()
    }

    /// Publishes `snapshot` unless a newer state is already published; schedules a retry on failure.
    private func publishInBackground(_ snapshot: TrainerSnapshot) {
        if let published = lastPublishedAt.withLock({ $0 }), snapshot.takenAt <= published {
            retry = nil
            status.modify { $0.nextPublishRetryAt = nil }
            return
        }
        do {
            try publishNow(snapshot)
            retry = nil
            retryDelay = retryInitial
            status.modify { $0.nextPublishRetryAt = nil }
        } catch {
            retry = (snapshot, ContinuousClock.now + retryDelay)
            let seconds = retryDelay.inSeconds
            status.modify { $0.nextPublishRetryAt = Date().addingTimeInterval(seconds) }
            logger.notice("publishing the same state again later", metadata: [
                "checkpoint.retry_in_seconds": "\(String(format: "%.3f", seconds))"])
            retryDelay = min(retryDelay * 2, retryMax)
        }
    }

    /// Stops the background thread after the publish in progress.
    func stop() {
        stopped.withLock { $0 = true }
        wake.signal()
        finished.wait()
    }

    /// Queues `snapshot` for the background thread (replacing one not yet started).
    func submit(_ snapshot: TrainerSnapshot) {
        waiting.withLock { $0 = snapshot }
        wake.signal()
    }

    /// Publishes `snapshot` now, then commits its offsets. A snapshot whose pipeline state equals
    /// the one `LATEST` holds (nothing trained, skipped or consumed since) is not published
    /// again, so restarts do not push real versions out of `checkpoint.keep`; its offsets are
    /// still committed.
    /// - Returns: the new version, or `nil` when there was nothing new.
    /// - Throws: the ``CheckpointError`` of a failed publish (already logged and counted).
    @discardableResult
    func publishNow(_ snapshot: TrainerSnapshot) throws -> CheckpointPublishResult? {
        publishLock.lock(); defer { publishLock.unlock() }
        if let latestState, latestState == snapshot.pipeline {
            logger.info("nothing new since the latest checkpoint; not publishing another version", metadata: [
                "checkpoint.version": "\(status.current.modelVersion.map { String($0) } ?? "none")"])
            commit(snapshot.pipeline.nextOffsets)
            return nil
        }
        metrics.attempts.increment()
        status.modify { $0.publishAttempts += 1 }
        // Model and index health as gauges: hsnn_model_live_items, hsnn_model_index_moves_total, ...
        for (key, value) in snapshot.learner.statistics {
            metrics.modelStatistic(key).record(value)
        }
        do {
            let result = try store.publish(metadata: Self.metadata(of: snapshot)) { folder in
                try snapshot.learner.write(to: folder)
                try PipelineStateFile.write(snapshot.pipeline, to: folder)
            }
            metrics.published.increment()
            latestState = snapshot.pipeline
            lastPublishedAt.withLock { $0 = max($0 ?? snapshot.takenAt, snapshot.takenAt) }
            metrics.duration.recordNanoseconds(result.duration.inNanoseconds)
            metrics.bytes.record(Double(result.bytesWritten))
            metrics.version.record(Double(result.version.number))
            let seconds = result.duration.inSeconds
            status.modify {
                $0.modelVersion = Int64(result.version.number)
                $0.lastPublishAt = Date()
                $0.lastPublishSeconds = seconds
                $0.lastPublishError = nil
            }
            logger.info("published checkpoint", metadata: [
                "checkpoint.version": "\(result.version.folderName)", "checkpoint.bytes": "\(result.bytesWritten)",
                "checkpoint.seconds": "\(String(format: "%.3f", seconds))",
                "checkpoint.pause_seconds": "\(String(format: "%.4f", snapshot.pauseSeconds))",
                "training.examples": "\(snapshot.pipeline.counters.examplesTrained)",
            ])
            commit(snapshot.pipeline.nextOffsets)
            return result
        } catch {
            metrics.failed.increment()
            status.modify { $0.lastPublishError = "\(error)" }
            logger.error("checkpoint publish failed; LATEST is unchanged",
                         metadata: ["error": "\(error)"])
            throw error
        }
    }
}
