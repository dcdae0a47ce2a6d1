import Foundation
import HSNNKafka
import HSNNPipeline
import Logging
import Synchronization

/// Reacts to partition assignment changes of the daemon's consumer.
///
/// - On assign: each partition starts at the later of the offset the model state reflects
///   (the checkpoint is the source of truth) and the group's committed offset (another
///   member may have trained further since this state last owned the partition). After a
///   start that fell back past corrupt checkpoint versions, the restored state's offsets win
///   until this member commits again: the group's offsets were committed by the lost
///   versions, and the events between are trained again rather than skipped.
/// - On revoke: fetched records of the partitions are dropped, training pauses between
///   chunks, a checkpoint is published and its offsets committed, so the next owner
///   starts exactly where this state ends: nothing lost, nothing trained twice.
/// - When partitions are lost (session timeout) nothing is committed.
///
/// Its callbacks run on the polling thread, inside `poll`: while the poller waits for room in
/// a full ingest queue they wait too, at most `ingest.pause_after_ms` (then the poller pauses
/// its partitions and polls again). Commits from the publisher thread go through
/// ``commit(_:)``, which only commits partitions this member still owns.
final class RebalanceCoordinator: KafkaRebalanceHandler, @unchecked Sendable {
    // @unchecked: `parts` and `owned` are behind Mutexes; the rest is immutable.
    struct Parts {
        var consumer: KafkaConsumer
        var trainer: TrainerThread
        var poller: IngestPoller
        var queue: IngestQueue<IngestItem>
        var publisher: CheckpointPublisher
    }

    private let parts = Mutex<Parts?>(nil)
    /// Partitions owned now; the lock is held across commits so a revoke cannot interleave.
    private let owned = Mutex<Set<StreamPartition>>([])
    private let closing = Mutex(false)
    /// Partitions whose restored offsets win over the group's (see ``preferRestoredOffsets(for:)``).
    private let restoredWins = Mutex<Set<StreamPartition>>([])
    private let logger: Logger
    private let status: DaemonStatusBoard

    init(status: DaemonStatusBoard, logger: Logger) {
        self.status = status
        self.logger = logger
    }

    /// Connects the parts, once they exist (the consumer needs this handler first).
    func attach(_ p: Parts) { parts.withLock { $0 = p } }

    /// Lets go of the parts after shutdown.
    func detach() { parts.withLock { $0 = nil } }

    /// From now on revocations (the one `close()` triggers) publish nothing: shutdown has
    /// published the final state already.
    func beginClosing() { closing.withLock { $0 = true } }

    /// The state was restored from an older version because newer ones failed verification:
    /// for `partitions`, start at the state's offsets even where the group committed later ones
    /// (those reflect the lost versions), until this member commits them again.
    func preferRestoredOffsets(for partitions: Set<StreamPartition>) { restoredWins.withLock { $0 = partitions } }

    /// Commits `offsets` for the partitions this member still owns.
    func commit(_ offsets: [StreamPartition: Int64]) {
        guard let consumer = parts.withLock({ $0?.consumer }) else { return }
        owned.withLock { owned in
            let mine = offsets.filter { owned.contains($0.key) }
            guard !mine.isEmpty else { return }
            do {
                try consumer.commit(Dictionary(uniqueKeysWithValues: mine.map { (KafkaTopicPartition(topic: $0.key.topic, partition: $0.key.partition), $0.value) }))
                restoredWins.withLock { $0.subtract(mine.keys) }
            } catch {
                logger.warning("committing offsets failed; the checkpoint stays the source of truth", metadata: ["error": "\(error)"])
            }
        }
    }

    func partitionsAssigned(_ partitions: [KafkaTopicPartition], consumer: KafkaConsumer) -> [KafkaTopicPartition: Int64] {
        guard let p = parts.withLock({ $0 }) else { return [:] }
        let committed = (try? consumer.committedOffsets(for: partitions, timeout: .seconds(10))) ?? [:]
        let reflected = p.trainer.withTrainingPaused { $0.nextOffsets }
        var start: [KafkaTopicPartition: Int64] = [:]
        let restoredWins = restoredWins.withLock { $0 }
        for tp in partitions {
            let key = StreamPartition(topic: tp.topic, partition: tp.partition)
            let fromState = reflected[key]
            let fromGroup = committed[tp].flatMap { $0 >= 0 ? $0 : nil }
            switch (fromState, fromGroup) {
            case let (s?, g?) where g > s && restoredWins.contains(key):
                start[tp] = s
                logger.warning("resuming behind the group's committed offset: it was committed by a checkpoint version that failed verification, so these events are trained again", metadata: [
                    "kafka.partition": "\(key)", "kafka.start_offset": "\(s)", "kafka.committed_offset": "\(g)"])
            case let (s?, g?): start[tp] = max(s, g)
            case let (s?, nil): start[tp] = s
            case let (nil, g?): start[tp] = g
            case (nil, nil): break
            }
        }
        p.poller.assign(Set(partitions.map { StreamPartition(topic: $0.topic, partition: $0.partition) }),
                        startingAt: Dictionary(uniqueKeysWithValues: start.map {
                            (StreamPartition(topic: $0.key.topic, partition: $0.key.partition), $0.value)
                        }))
        owned.withLock { $0.formUnion(partitions.map { StreamPartition(topic: $0.topic, partition: $0.partition) }) }
        status.modify { s in s.assignedPartitions = owned.withLock { $0.map(\.description).sorted() } }
        logger.info("partitions assigned", metadata: [
            "kafka.partitions": "\(partitions.map(\.description).joined(separator: ","))",
            "kafka.start_offsets": "\(start.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
        ])
        return start
    }

    func partitionsRevoked(_ partitions: [KafkaTopicPartition], lost: Bool, consumer: KafkaConsumer) {
        guard let p = parts.withLock({ $0 }) else { return }
        let revoked = Set(partitions.map { StreamPartition(topic: $0.topic, partition: $0.partition) })
        p.poller.forget(revoked)
        p.queue.removeAll { revoked.contains($0.partition) }
        if !lost, !closing.withLock({ $0 }) {
            // Publish while the partitions are still ours, so the commit covers them.
            _ = try? p.publisher.publishNow(p.trainer.snapshot())
        }
        p.trainer.withTrainingPaused { pipeline in
            for partition in revoked { pipeline.removePartition(partition) }
        }
        owned.withLock { $0.subtract(revoked) }
        status.modify { s in s.assignedPartitions = owned.withLock { $0.map(\.description).sorted() } }
        logger.info(lost ? "partitions lost" : "partitions revoked", metadata: [
            "kafka.partitions": "\(partitions.map(\.description).joined(separator: ","))",
        ])
    }
}
