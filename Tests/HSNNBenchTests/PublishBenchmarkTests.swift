import Foundation
import HSNNBench
import Testing
import HSNNTestSupport

@Suite("Publish benchmark")
struct BenchmarkTests {
    @Test("a small benchmark run measures both writes and cleans up after itself")
    func smallRun() throws {
        let directory = try TemporaryDirectory()
        let result = try PublishBenchmark.run(PublishBenchmarkOptions(directory: directory.url, totalBytes: 1 << 20, files: 2, tensorsPerFile: 2, runs: 3),
                                              logger: makeLogger().0)
        #expect(result.runs == 3)
        #expect(result.publishSeconds.count == 3 && result.sequentialSeconds.count == 3)
        #expect(result.publishBytes >= 1 << 20)
        #expect(result.sequentialBytes == result.publishBytes)
        #expect(result.publishSeconds.allSatisfy { $0 > 0 } && result.sequentialSeconds.allSatisfy { $0 > 0 })
        #expect(abs(result.ratio - result.publishMBps / result.sequentialMBps) < 1e-12)
        #expect(result.renderText().contains("publish / sequential"))
        #expect(entries(directory.url).isEmpty, "benchmark left \(entries(directory.url))")
    }
}
