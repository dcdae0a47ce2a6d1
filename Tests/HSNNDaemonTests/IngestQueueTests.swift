import Foundation
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
