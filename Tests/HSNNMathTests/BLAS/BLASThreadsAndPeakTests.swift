import Testing
@testable import HSNNMath

// Thread count is process-wide, so these run one at a time.
@Suite("Threads and GEMM peak", .serialized)
struct BLASThreadsAndPeakTests {
    @Test("thread count can be set and read back")
    func setThreads() throws {
        let original = BLASThreads.count
        defer { _ = try? BLASThreads.set(original) }
        #expect(original >= 1)
        #expect(try BLASThreads.set(1) == 1)
        #expect(BLASThreads.count == 1)
        let restored = try BLASThreads.set(original)
        #expect(restored == original)
        #expect(BLASThreads.processorCount >= 1)
    }

    @Test("a thread count below one is refused with advice", arguments: [0, -3])
    func invalidThreads(count: Int) {
        let before = BLASThreads.count
        #expect(throws: BLASError(.invalidThreadCount(count))) { try BLASThreads.set(count) }
        #expect(BLASThreads.count == before)
        #expect(BLASError(.invalidThreadCount(count)).description.contains("1 or more"))
    }

    @Test("the peak measurement reports each run and their median")
    func peakShape() {
        let peak = SgemmPeak.measure(n: 96, repetitions: 3, warmup: 1)
        #expect(peak.n == 96)
        #expect(peak.runGFLOPS.count == 3)
        #expect(peak.runGFLOPS.allSatisfy { $0.isFinite && $0 > 0 })
        #expect(peak.medianGFLOPS >= peak.runGFLOPS.min()!)
        #expect(peak.medianGFLOPS <= peak.bestGFLOPS)
        #expect(peak.core == OpenBLASBridge.coreName)
        #expect(peak.threads == BLASThreads.count)
    }

    @Test("median of an even number of runs is the mean of the middle two")
    func evenMedian() {
        let peak = SgemmPeak(n: 1, threads: 1, core: "x", runGFLOPS: [4, 1, 3, 2])
        #expect(peak.medianGFLOPS == 2.5)
        #expect(peak.bestGFLOPS == 4)
    }
}
