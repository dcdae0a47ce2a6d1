import Foundation
import HSNNEvents
import HSNNKafka
import HSNNOps
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

/// A record that could not be decoded, copied for the dead-letter topic.
struct RejectedRecord: Sendable {
    var partition: StreamPartition
    var offset: Int64
    var key: [UInt8]?
    var value: [UInt8]?
    var error: RecordDecodeError
}

/// Polls the Kafka consumer on a dedicated thread (never the Swift cooperative pool),
/// decodes records and hands them to the trainer through the ``IngestQueue``.
///
/// It never waits on training: when the queue is full it pauses every assigned
/// partition, keeps polling (heartbeats and rebalances go on, so
/// `max.poll.interval.ms` is never exceeded because training is slow), holds what was
/// already fetched, and resumes once the queue drains below its low-water mark.
final class IngestPoller: @unchecked Sendable {
    // @unchecked: `held` and `paused` are only touched by the polling thread (the loop
    // and the rebalance callbacks that run inside its `poll`).
    private let consumer: KafkaConsumer
    private let queue: IngestQueue<IngestItem>
    private let decoder: KafkaRecordDecoder
    private let status: DaemonStatusBoard
    private let deadLetter: (@Sendable (RejectedRecord) -> Void)?
    private let pollTimeout: Duration
    private let stopRequested = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)
    private var held: [IngestItem] = []
    private var paused = false
    private let logger: Logger
    private let badInputLog: RateLimitedLogger
    private let pollErrors = Counter(label: "hsnn_ingest_poll_errors_total")
    private let pauses = Counter(label: "hsnn_ingest_backpressure_pauses_total")
    private let recordsIn = Counter(label: "hsnn_ingest_records_total")

    init(
        consumer: KafkaConsumer, queue: IngestQueue<IngestItem>, decoder: KafkaRecordDecoder, pollTimeout: Duration,
        status: DaemonStatusBoard, logger: Logger, deadLetter: (@Sendable (RejectedRecord) -> Void)?
    ) {
        self.consumer = consumer
        self.queue = queue
        self.decoder = decoder
        self.pollTimeout = pollTimeout
        self.status = status
        self.logger = logger
        self.deadLetter = deadLetter
        self.badInputLog = RateLimitedLogger(
            logger: logger, limiter: LogRateLimiter(limit: 10, interval: .seconds(10)),
            suppressedCounter: Counter(label: "hsnn_log_suppressed_total"))
    }

    func start() {
        let thread = Thread { [self] in
            Thread.current.name = "hsnn-poller"  // named from inside: Linux ignores a name set before start
            self.loop()
            self.finished.signal()
        }
        thread.name = "hsnn-poller"
        thread.start()
    }

    /// Stops polling; returns once the loop has exited. The consumer stays open.
    func stop() {
        stopRequested.withLock { $0 = true }
        finished.wait()
    }

    /// Drops records of `partitions` fetched but not yet handed over (they were revoked).
    /// Call on the polling thread (rebalance callbacks run there).
    func forget(_ partitions: Set<StreamPartition>) {
        held.removeAll { partitions.contains($0.partition) }
    }

    private func loop() {
        status.modify { $0.consuming = true }
        defer { status.modify { $0.consuming = false } }
        while !stopRequested.withLock({ $0 }) {
            if !held.isEmpty { flushHeld() }
            if paused, held.isEmpty, queue.hasRoom { setPaused(false) }
            let item: IngestItem?
            do {
                item = try consumer.poll(timeout: paused ? min(pollTimeout, .milliseconds(100)) : pollTimeout) { view in
                    self.ingest(view)
                }
            } catch {
                pollErrors.increment()
                badInputLog.warning(key: "poll", "polling failed; retrying", metadata: ["error": "\(error)"])
                Thread.sleep(forTimeInterval: 0.1)
                continue
            }
            guard let item else { continue }
            recordsIn.increment()
            if held.isEmpty, queue.offer(item) { continue }
            held.append(item)
            if !paused { setPaused(true) }
        }
    }

    private func setPaused(_ pause: Bool) {
        do {
            let assignment = try consumer.assignment()
            if pause { try consumer.pause(assignment) } else { try consumer.resume(assignment) }
            paused = pause
            status.modify { $0.pausedForBackpressure = pause }
            if pause { pauses.increment() }
            logger.debug(pause ? "training queue full; paused partitions" : "resumed partitions",
                         metadata: ["ingest.queued": "\(queue.count)"])
        } catch {
            logger.warning("could not \(pause ? "pause" : "resume") partitions", metadata: ["error": "\(error)"])
        }
    }

    private func flushHeld() {
        var handed = 0
        for item in held {
            guard queue.offer(item) else { break }
            handed += 1
        }
        held.removeFirst(handed)
    }

    private func ingest(_ view: borrowing KafkaMessageView) -> IngestItem {
        let partition = StreamPartition(topic: view.topic, partition: view.partition)
        switch decoder.decode(view) {
        case .success(let event):
            return IngestItem(partition: partition, offset: view.offset, payload: .event(event))
        case .failure(let error):
            Counter(label: "hsnn_ingest_malformed_total", dimensions: [("reason", error.reason)]).increment()
            status.modify { $0.malformed[error.reason, default: 0] += 1 }
            badInputLog.warning(key: error.reason, "skipped malformed record", metadata: [
                "kafka.topic": "\(view.topic)", "kafka.partition": "\(view.partition)",
                "kafka.offset": "\(view.offset)", "ingest.reason": "\(error.reason)", "error": "\(error.message)",
            ])
            if let deadLetter {
                deadLetter(RejectedRecord(
                    partition: partition, offset: view.offset, key: view.key.map { Array($0) },
                    value: view.value.map { Array($0) }, error: error))
            }
            return IngestItem(partition: partition, offset: view.offset, payload: .malformed)
        }
    }
}
