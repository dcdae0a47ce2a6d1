import HSNNMath
import Foundation

/// `cblas_sgemm` throughput with the kernel this process runs, as one JSON line.
public enum SgemmBenchmark {
    /// Measures `n` x `n` x `n` products `runs` times and describes the result in one JSON line
    /// (`n`, `core`, `threads`, `median_gflops`, `best_gflops`).
    public static func run(n: Int, runs: Int) -> String {
        let peak = SgemmPeak.measure(n: n, repetitions: runs)
        return "{\"n\":\(n),\"core\":\"\(peak.core)\",\"threads\":\(peak.threads),\"median_gflops\":\(String(format: "%.1f", peak.medianGFLOPS)),\"best_gflops\":\(String(format: "%.1f", peak.bestGFLOPS))}"
    }
}
