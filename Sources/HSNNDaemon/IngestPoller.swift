import Foundation
import HSNNEvents
import HSNNStream
import Logging
import Metrics
import Synchronization

/// Turns a raw record into an event, or a reason (a metric label) and a message.
public typealias RecordDecoder = @Sendable (SourceRecord) -> Result<Event, RecordDecodeError>

/// Why a record was refused.
public struct RecordDecodeError: Error, Sendable {
    /// Stable, machine-readable reason, used as the `reason` label of `hsnn_ingest_malformed_total`.
    public var reason: String
    public var message: String

    public init(reason: String, message: String) {
        self.reason = reason
        self.message = message
    }
}

/// Polls the ``EventSource`` on a dedicated thread (never the Swift cooperative pool),
/// decodes records and hands them to the trainer through the ``IngestQueue``.
///
/// It never waits on training: when the queue is full it pauses every assigned
/// partition, keeps polling (heartbeats and rebalances go on, so
/// `max.poll.interval.ms` is never exceeded because training is slow), holds what was
/// already fetched, and resumes once the queue drains below its low-water mark.
final class IngestPoller: @unchecked Sendable {
    // @unchecked: `held` and `paused` are only touched by the polling thread.
    private let source: any EventSource
    private let queue: IngestQueue<IngestItem>
    private let decode: RecordDecoder
    private let logger: Logger
    private let status: DaemonStatusBoard
    private let deadLetter: (@Sendable (SourceRecord, RecordDecodeError) -> Void)?
    private let pollTimeoutMs: Int
    private let stopRequested = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)
    private var held: [IngestItem] = []
    private var paused = false
    private let logLimiter = LogRateLimiter(linesPerInterval: 10, intervalSeconds: 10)

    init(
        source: any EventSource, queue: IngestQueue<IngestItem>, decode: @escaping RecordDecoder, pollTimeoutMs: Int,
        status: DaemonStatusBoard, logger: Logger, deadLetter: (@Sendable (SourceRecord, RecordDecodeError) -> Void)?
    ) {
        self.source = source
        self.queue = queue
        self.decode = decode
        self.pollTimeoutMs = pollTimeoutMs
        self.status = status
        self.logger = logger
        self.deadLetter = deadLetter
    }

    func start() {
        let thread = Thread { [self] in
            self.loop()
            self.finished.signal()
        }
        thread.name = "hsnn-poller"
        thread.start()
    }

    /// Stops polling; returns once the loop has exited. The source stays open.
    func stop() {
        stopRequested.withLock { $0 = true }
        finished.wait()
    }

    /// Drops records of `partitions` that were fetched but not yet handed over (revoked).
    func forget(_ partitions: Set<StreamPartition>) {
        held.removeAll { partitions.contains($0.partition) }
    }

    private func loop() {
        status.modify { $0.consuming = true }
        defer { status.modify { $0.consuming = false } }
        while !stopRequested.withLock({ $0 }) {
            if !held.isEmpty { flushHeld() }
            if paused, held.isEmpty, queue.hasRoom {
                source.resume(source.assignment())
                paused = false
                status.modify { $0.pausedForBackpressure = false }
                logger.debug("resumed partitions", metadata: ["ingest.queued": "\(queue.count)"])
            }
            let record: SourceRecord?
            do {
                record = try source.poll(timeoutMs: paused ? min(pollTimeoutMs, 100) : pollTimeoutMs)
            } catch {
                if logLimiter.allow("poll") {
                    logger.warning("polling failed; retrying", metadata: ["error": "\(error)"])
                }
                Counter(label: "hsnn_ingest_poll_errors_total").increment()
                continue
            }
            guard let record else { continue }
            let item = IngestItem(partition: record.partition, offset: record.offset, payload: decodePayload(record))
            if held.isEmpty, queue.offer(item) { continue }
            held.append(item)
            if !paused {
                source.pause(source.assignment())
                paused = true
                status.modify { $0.pausedForBackpressure = true }
                Counter(label: "hsnn_ingest_backpressure_pauses_total").increment()
                logger.debug("training queue full; paused partitions", metadata: ["ingest.queued": "\(queue.count)"])
            }
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

    private func decodePayload(_ record: SourceRecord) -> IngestItem.Payload {
        switch decode(record) {
        case .success(let event):
            return .event(event)
        case .failure(let error):
            Counter(label: "hsnn_ingest_malformed_total", dimensions: [("reason", error.reason)]).increment()
            status.modify { $0.malformed[error.reason, default: 0] += 1 }
            if logLimiter.allow(error.reason) {
                logger.warning("skipped malformed record", metadata: [
                    "kafka.topic": "\(record.partition.topic)", "kafka.partition": "\(record.partition.partition)",
                    "kafka.offset": "\(record.offset)", "ingest.reason": "\(error.reason)", "error": "\(error.message)",
                ])
            }
            deadLetter?(record, error)
            return .malformed
        }
    }
}

/// Allows at most `linesPerInterval` log lines per key per interval and counts the rest.
final class LogRateLimiter: Sendable {
    private struct Window { var start: Date; var count: Int; var suppressed: Int }
    private let windows = Mutex([String: Window]())
    private let linesPerInterval: Int
    private let intervalSeconds: Double

    init(linesPerInterval: Int, intervalSeconds: Double) {
        self.linesPerInterval = linesPerInterval
        self.intervalSeconds = intervalSeconds
    }

    /// Whether a line for `key` may be logged now.
    func allow(_ key: String, now: Date = Date()) -> Bool {
        windows.withLock { windows in
            var w = windows[key] ?? Window(start: now, count: 0, suppressed: 0)
            if now.timeIntervalSince(w.start) >= intervalSeconds { w = Window(start: now, count: 0, suppressed: 0) }
            w.count += 1
            let allowed = w.count <= linesPerInterval
            if !allowed { w.suppressed += 1 }
            windows[key] = w
            return allowed
        }
    }
}
