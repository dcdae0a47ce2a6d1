import Foundation
import HSNNPipeline
import Synchronization

/// The daemon's live status, written by its parts and read by `/status` and `/readyz`.
public final class DaemonStatusBoard: Sendable {
    /// What `/status` reports.
    public struct Status: Sendable, Codable {
        public var startedAt: Date = Date()
        public var consuming = false
        /// Whether `/readyz` answers 200, and why not (empty when ready).
        public var ready = false
        public var notReadyReason = ""
        /// A broker connection is up and received something within `kafka.liveness_timeout_ms`.
        public var kafkaConnected = false
        /// The state of the broker connections in words (`up`, `no broker connection up`, ...).
        public var kafkaConnection = "not connected yet"
        /// Errors librdkafka reported while polling (it retries them itself), and the latest.
        public var pollErrors: Int64 = 0
        public var lastPollError: String?
        /// Records skipped because the broker no longer held them, per `topic/partition`.
        public var recordsLost: [String: Int64] = [:]
        public var assignedPartitions: [String] = []
        public var pipeline = PipelineCounters()
        public var joiner = JoinerCounters()
        /// Next offset reflected in the model, per `topic/partition`.
        public var offsets: [String: Int64] = [:]
        /// Consumer lag per `topic/partition`, from librdkafka statistics.
        public var lag: [String: Int64] = [:]
        public var malformed: [String: Int64] = [:]
        public var modelVersion: Int64?
        public var lastPublishAt: Date?
        public var lastPublishSeconds: Double?
        public var lastPublishError: String?
        /// Publish attempts since start (cadence, retries, rebalances, shutdown).
        public var publishAttempts: Int64 = 0
        /// When the next retry of a failed publish is due, if one is.
        public var nextPublishRetryAt: Date?
        /// The poller paused its partitions because the trainer took nothing from the full
        /// ingest queue for `ingest.pause_after_ms`.
        public var pausedForBackpressure = false
        /// Times the partitions were paused that way since start.
        public var backpressurePauses: Int64 = 0
        /// Events partitions paused because they ran ahead of the catalog
        /// (`ingest.max_ahead_of_catalog_ms`).
        public var aheadOfCatalog: [String] = []
        /// Seconds the poller spent waiting for room in the full ingest queue since start.
        public var ingestBlockedSeconds: Double = 0
        /// Seconds the training thread spent waiting for records since start.
        public var trainerIdleSeconds: Double = 0
        public var eventsPerSecond: Double = 0
        /// The model's recent loss and schedule position.
        public var learner: [String: Double] = [:]
    }

    /// How far a graceful stop has come, for whoever must end the process at a deadline.
    public struct StopProgress: Sendable, Equatable {
        /// What the stop is doing now ("publishing the final checkpoint", "leaving the consumer group", ...).
        public var step: String
        /// The exit status the process should end with, known once the final state is settled:
        /// 0 saved, 1 stopped because records were lost, ``FinalCheckpointError/exitCode`` not saved.
        public var exitCode: Int32?
    }

    private let state = Mutex(Status())
    private let stop = Mutex<StopProgress?>(nil)

    public init() {}

    /// `nil` until a graceful stop begins.
    public var stopProgress: StopProgress? { stop.withLock { $0 } }

    func stopStep(_ step: String, exitCode: Int32? = nil) {
        stop.withLock { progress in
            progress = StopProgress(step: step, exitCode: exitCode ?? progress?.exitCode)
        }
    }

    /// A copy of the current status, with readiness worked out.
    public var current: Status {
        var s = state.withLock { $0 }
        let r = Self.readiness(of: s)
        s.ready = r.ready
        s.notReadyReason = r.ready ? "" : r.reason
        return s
    }

    /// Ready while it consumes over a live broker connection, has partitions assigned and
    /// has trained at least one batch (the restored checkpoint's count).
    public var isReady: (ready: Bool, reason: String) { Self.readiness(of: state.withLock { $0 }) }

    static func readiness(of s: Status) -> (ready: Bool, reason: String) {
        if !s.consuming { return (false, "not consuming yet") }
        // While the group assigns partitions the coordinator may answer nothing for a while,
        // so the assignment is checked before the broker's silence.
        if s.assignedPartitions.isEmpty { return (false, "no partitions assigned") }
        if !s.kafkaConnected { return (false, "Kafka: \(s.kafkaConnection)") }
        if s.pipeline.batches == 0 { return (false, "no batch trained yet") }
        return (true, "ok")
    }

    public func modify(_ body: (inout Status) -> Void) { state.withLock { body(&$0) } }

    func update(counters: FeedCounters, offsets: [StreamPartition: Int64], learner: [String: Double]) {
        state.withLock { s in
            s.pipeline = counters.pipeline
            s.joiner = counters.joiner
            s.offsets = Dictionary(uniqueKeysWithValues: offsets.map { ($0.key.description, $0.value) })
            s.learner = learner
        }
    }
}
