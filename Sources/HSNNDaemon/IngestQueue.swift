import Foundation

/// The bounded hand-off between the Kafka polling thread and the training thread.
///
/// The poller never blocks on it: ``offer(_:)`` refuses when the queue is full, and the
/// poller then pauses its partitions until ``hasRoom`` (the queue drained below the
/// low-water mark). The trainer blocks in ``take(max:timeout:)``. Memory stays bounded by
/// `capacity` plus what librdkafka prefetches (bounded by `queued.max.messages.kbytes`).
final class IngestQueue<Element: Sendable>: @unchecked Sendable {
    // @unchecked: every stored property is only touched while `condition` is locked.
    private let condition = NSCondition()
    private var buffer: [Element] = []
    private var head = 0
    private var closed = false
    let capacity: Int
    let lowWater: Int

    init(capacity: Int, lowWaterFraction: Double = 0.5) {
        precondition(capacity > 0, "queue capacity must be positive")
        self.capacity = capacity
        self.lowWater = max(0, min(capacity - 1, Int(Double(capacity) * lowWaterFraction)))
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
        buffer.append(element)
        condition.signal()
        return true
    }

    /// Removes up to `max` elements, waiting up to `timeout` seconds for the first one.
    /// Returns an empty array on timeout or once the queue is closed and drained.
    func take(max: Int, timeout: TimeInterval) -> [Element] {
        condition.lock(); defer { condition.unlock() }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while buffer.count == head, !closed {
            if !condition.wait(until: deadline) { break }
        }
        let n = min(max, buffer.count - head)
        guard n > 0 else { return [] }
        let out = Array(buffer[head..<(head + n)])
        head += n
        if head > 1024, head * 2 >= buffer.count {
            buffer.removeFirst(head)
            head = 0
        }
        return out
    }

    /// Drops the waiting elements that match `predicate` (records of revoked partitions).
    func removeAll(where predicate: (Element) -> Bool) {
        condition.lock(); defer { condition.unlock() }
        buffer = buffer[head...].filter { !predicate($0) }
        head = 0
    }

    /// Wakes the consumer; later offers are refused, waiting elements can still be taken.
    func close() {
        condition.lock(); defer { condition.unlock() }
        closed = true
        condition.broadcast()
    }

    var isClosed: Bool {
        condition.lock(); defer { condition.unlock() }
        return closed
    }
}
