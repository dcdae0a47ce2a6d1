import Foundation
import Synchronization
import Testing
@testable import HSNNDaemon

@Suite struct IngestQueueTests {
    @Test func refusesWhenFullAndReportsRoomAtLowWater() {
        let q = IngestQueue<Int>(capacity: 4, lowWaterFraction: 0.5)
        for n in 0..<4 { #expect(q.offer(n)) }
        #expect(!q.offer(99))
        #expect(!q.hasRoom)
        #expect(q.take(max: 1, timeout: 0) == [0])
        #expect(!q.hasRoom)
        #expect(q.take(max: 1, timeout: 0) == [1])
        #expect(q.hasRoom)
        #expect(q.take(max: 10, timeout: 0) == [2, 3])
    }

    @Test func takeWaitsForAProducerThread() {
        let q = IngestQueue<Int>(capacity: 8)
        let producer = Thread { for n in 0..<3 { _ = q.offer(n); usleep(1_000) } }
        producer.start()
        var got: [Int] = []
        let deadline = Date().addingTimeInterval(5)
        while got.count < 3, Date() < deadline { got += q.take(max: 8, timeout: 0.5) }
        #expect(got == [0, 1, 2])
    }

    @Test func removeAllDropsMatchingAndCloseWakesConsumers() {
        let q = IngestQueue<Int>(capacity: 8)
        for n in 0..<6 { _ = q.offer(n) }
        q.removeAll { $0 % 2 == 0 }
        #expect(q.count == 3)
        q.close()
        #expect(!q.offer(7))
        #expect(q.take(max: 10, timeout: 1) == [1, 3, 5])
        #expect(q.take(max: 10, timeout: 1) == [])
    }
}

/// The waiting offer the poller uses when the queue is full. No test asserts how long
/// anything took: each checks only what the offer did with its element.
@Suite struct IngestQueueWaitingOfferTests {
    @Test func waitingOfferProceedsOnceTheConsumerTakes() {
        let q = IngestQueue<Int>(capacity: 2)
        #expect(q.offer(0))
        #expect(q.offer(1))
        let consumer = Thread {
            usleep(20_000)
            _ = q.take(max: 1, timeout: 0)
        }
        consumer.start()
        let outcome = q.offer(2, stallLimit: .seconds(600), slice: .milliseconds(5)) { false }
        #expect(outcome == .accepted)
        #expect(q.take(max: 10, timeout: 0) == [1, 2])
    }

    @Test func waitingOfferGivesUpWhenTheConsumerTakesNothing() {
        let q = IngestQueue<Int>(capacity: 1)
        #expect(q.offer(0))
        let outcome = q.offer(1, stallLimit: .milliseconds(20), slice: .milliseconds(5)) { false }
        #expect(outcome == .stalled)
        #expect(q.take(max: 10, timeout: 0) == [0])
    }

    @Test func theStallClockStartsWhenThereIsSomethingToTake() {
        let clock = ManualClock()
        let q = IngestQueue<Int>(capacity: 1, now: { clock.now })
        // The consumer waits on an empty queue for a long time: that is no stall.
        clock.advance(by: .seconds(60))
        #expect(q.offer(0))
        #expect(q.offer(1, stallLimit: .seconds(5), slice: .milliseconds(1)) { true } == .cancelled)
        // Nothing taken for the stall limit while an element waits: stalled.
        clock.advance(by: .seconds(5))
        #expect(q.offer(1, stallLimit: .seconds(5), slice: .milliseconds(1)) { true } == .stalled)
        // A take restarts the clock.
        #expect(q.take(max: 1, timeout: 0) == [0])
        #expect(q.offer(1))
        #expect(q.offer(2, stallLimit: .seconds(5), slice: .milliseconds(1)) { true } == .cancelled)
        clock.advance(by: .seconds(5))
        #expect(q.offer(2, stallLimit: .seconds(5), slice: .milliseconds(1)) { true } == .stalled)
    }

    @Test func waitingOfferStopsWhenCancelledOrClosed() {
        let q = IngestQueue<Int>(capacity: 1)
        #expect(q.offer(0))
        #expect(q.offer(1, stallLimit: .seconds(600), slice: .milliseconds(5)) { true } == .cancelled)
        let closer = Thread {
            usleep(20_000)
            q.close()
        }
        closer.start()
        #expect(q.offer(2, stallLimit: .seconds(600), slice: .milliseconds(5)) { false } == .closed)
        #expect(q.take(max: 10, timeout: 0) == [0])
    }

    @Test func aWaitingOfferDoesNotLoseOrReorderUnderAConsumer() {
        let q = IngestQueue<Int>(capacity: 8)
        let total = 20_000
        let received = Mutex<[Int]>([])
        let done = DispatchSemaphore(value: 0)
        let consumer = Thread {
            var got: [Int] = []
            while got.count < total {
                let chunk = q.take(max: 3, timeout: 1)
                if chunk.isEmpty, q.isClosed { break }
                got += chunk
            }
            received.withLock { $0 = got }
            done.signal()
        }
        consumer.start()
        for n in 0..<total where !q.offer(n) {
            #expect(q.offer(n, stallLimit: .seconds(600), slice: .milliseconds(50)) { false } == .accepted)
        }
        done.wait()
        #expect(received.withLock { $0 } == Array(0..<total))
    }
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)
    var now: ContinuousClock.Instant { instant.withLock { $0 } }
    func advance(by duration: Duration) { instant.withLock { $0 += duration } }
}
