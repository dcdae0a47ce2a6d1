import Foundation
import HSNNSupport

/// The bounded hand-off between the Kafka polling thread and the training thread.
///
/// The poller offers each record with ``offer(_:stallLimit:slice:isCancelled:)``: when the
/// queue is full it waits for the trainer to take a chunk, in short slices, holding the one
/// record it has. It gives up (``OfferOutcome/stalled``) only when the trainer has taken
/// nothing for `stallLimit`; the poller then pauses its partitions and resumes them once
/// ``hasRoom`` (the queue drained to its low-water mark). The trainer blocks in
/// ``take(max:timeout:)``. Memory stays bounded by `capacity` plus what librdkafka
/// prefetches (bounded by `queued.max.messages.kbytes`).
final class IngestQueue<Element: Sendable>: @unchecked Sendable {
    /// What a waiting offer did with its element.
    enum OfferOutcome: Equatable, Sendable {
        /// The element is in the queue.
        case accepted
        /// The consumer took nothing for the stall limit while the queue stayed full; the
        /// caller still has the element.
        case stalled
        /// The queue was closed; the element was not added.
        case closed
        /// `isCancelled` returned true; the caller still has the element.
        case cancelled
    }

    // @unchecked: every stored property is only touched while `condition` is locked.
    private let condition = NSCondition()
    private var buffer: [Element] = []
    private var head = 0
    private var closed = false
    /// Threads waiting in ``take(max:timeout:)`` for an element, and in a waiting offer for room:
    /// the other side wakes them only when someone waits.
    private var waitingTakers = 0
    private var waitingOfferers = 0
    /// When the consumer last took at least one element, or the queue last went from empty to
    /// not empty: the stall clock. A consumer waiting on an empty queue is not stalled, so its
    /// wait does not count.
    private var lastProgress: ContinuousClock.Instant
    private let now: @Sendable () -> ContinuousClock.Instant
    let capacity: Int
    let lowWater: Int

    /// - Parameters:
    ///   - lowWaterFraction: ``hasRoom`` once the queue holds at most this share of `capacity`.
    ///   - now: the clock the stall limit is measured with (tests pass one they advance).
    init(capacity: Int, lowWaterFraction: Double = 0.5,
         now: @escaping @Sendable () -> ContinuousClock.Instant = { ContinuousClock.now }) {
        precondition(capacity > 0, "queue capacity must be positive")
        self.capacity = capacity
        self.lowWater = max(0, min(capacity - 1, Int(Double(capacity) * lowWaterFraction)))
        self.now = now
        self.lastProgress = now()
    }

    /// Elements waiting.
    var count: Int {
        condition.lock(); defer { condition.unlock() }
        return buffer.count - head
    }

    /// Whether the queue drained to its low-water mark (time to resume paused partitions).
    var hasRoom: Bool { count <= lowWater }

    /// Appends `element` unless the queue is full or closed; never blocks.
    func offer(_ element: Element) -> Bool {
        condition.lock(); defer { condition.unlock() }
        guard !closed, buffer.count - head < capacity else { return false }
        appendLocked(element)
        return true
    }

    /// Appends `element`, waiting while the queue is full for the consumer to take some.
    ///
    /// It waits in slices of at most `slice`. Between slices it returns ``OfferOutcome/stalled``
    /// when the consumer has taken nothing for `stallLimit` while there was something to take
    /// (measured from its last take or from when the queue stopped being empty, whichever is
    /// later: a consumer that stopped before the queue filled is detected without waiting
    /// again, one that waited on an empty queue is not stalled), else
    /// ``OfferOutcome/cancelled`` when `isCancelled()` is true. Call it from a dedicated
    /// thread, never from the Swift cooperative pool. `isCancelled` runs with the queue locked
    /// and must not use the queue.
    func offer(_ element: Element, stallLimit: Duration, slice: Duration, isCancelled: () -> Bool) -> OfferOutcome {
        condition.lock(); defer { condition.unlock() }
        let sliceSeconds = slice.inSeconds
        while true {
            if closed { return .closed }
            if buffer.count - head < capacity {
                appendLocked(element)
                return .accepted
            }
            if lastProgress.duration(to: now()) >= stallLimit { return .stalled }
            if isCancelled() { return .cancelled }
            waitingOfferers += 1
            _ = condition.wait(until: Date(timeIntervalSinceNow: sliceSeconds))
            waitingOfferers -= 1
        }
    }

    /// Removes up to `max` elements, waiting up to `timeout` seconds for the first one.
    /// Returns an empty array on timeout or once the queue is closed and drained.
    func take(max: Int, timeout: TimeInterval) -> [Element] {
        condition.lock(); defer { condition.unlock() }
        if buffer.count == head, !closed, timeout > 0 {
            let deadline = Date(timeIntervalSinceNow: timeout)
            waitingTakers += 1
            while buffer.count == head, !closed {
                if !condition.wait(until: deadline) { break }
            }
            waitingTakers -= 1
        }
        let n = min(max, buffer.count - head)
        guard n > 0 else { return [] }
        let out = Array(buffer[head..<(head + n)])
        head += n
        if head > 1024, head * 2 >= buffer.count {
            buffer.removeFirst(head)
            head = 0
        }
        lastProgress = now()
        if waitingOfferers > 0 { condition.broadcast() }
        return out
    }

    /// Drops the waiting elements that match `predicate` (records of revoked partitions).
    func removeAll(where predicate: (Element) -> Bool) {
        condition.lock(); defer { condition.unlock() }
        buffer = buffer[head...].filter { !predicate($0) }
        head = 0
        if waitingOfferers > 0 { condition.broadcast() }
    }

    /// Wakes every waiting thread; later offers are refused, waiting elements can still be taken.
    func close() {
        condition.lock(); defer { condition.unlock() }
        closed = true
        condition.broadcast()
    }

    var isClosed: Bool {
        condition.lock(); defer { condition.unlock() }
        return closed
    }

    private func appendLocked(_ element: Element) {
        if buffer.count == head { lastProgress = now() }
        buffer.append(element)
        if waitingTakers > 0 { condition.broadcast() }
    }
}
