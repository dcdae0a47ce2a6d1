#if canImport(Glibc)
import Glibc
#endif

/// Single-precision GEMM throughput of the loaded OpenBLAS on this machine,
/// measured in-process: the peak a model's achieved GFLOP/s is compared with.
public struct SgemmPeak: Sendable, Equatable {
    /// Matrix size: each run multiplies two `n x n` matrices.
    public let n: Int
    /// OpenBLAS threads during the measurement.
    public let threads: Int
    /// OpenBLAS kernel family during the measurement.
    public let core: String
    /// GFLOP/s (`2 n^3` floating-point operations per call) of each timed run, in order.
    public let runGFLOPS: [Double]

    /// Median of ``runGFLOPS``.
    public var medianGFLOPS: Double {
        let sorted = runGFLOPS.sorted()
        let middle = sorted.count / 2
        return sorted.count.isMultiple(of: 2) ? (sorted[middle - 1] + sorted[middle]) / 2 : sorted[middle]
    }

    /// Best of ``runGFLOPS``.
    public var bestGFLOPS: Double { runGFLOPS.max() ?? 0 }

    /// Times `repetitions` calls of `cblas_sgemm` on random `n x n` matrices
    /// after `warmup` untimed calls, with the current thread count.
    ///
    /// Allocates three `n x n` float matrices for the duration of the call
    /// (12 MiB at the default size). Blocks the calling thread; run it off the
    /// cooperative thread pool.
    /// - Precondition: `n >= 1`, `repetitions >= 1`, `warmup >= 0`.
    public static func measure(n: Int = 1024, repetitions: Int = 5, warmup: Int = 1) -> SgemmPeak {
        precondition(n >= 1 && repetitions >= 1 && warmup >= 0, "SgemmPeak.measure needs n >= 1, repetitions >= 1, warmup >= 0")
        let count = n * n
        let a = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        let c = UnsafeMutableBufferPointer<Float>.allocate(capacity: count)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        var random = SeededRandom(seed: 0x9e2c_0ffe)
        for i in 0..<count {
            a[i] = random.signedUniform()
            b[i] = random.signedUniform()
            c[i] = 0
        }
        func multiply() {
            OpenBLASBridge.sgemm(
                transposeA: false, transposeB: false, m: n, n: n, k: n,
                alpha: 1, a: a.baseAddress!, lda: n, b: b.baseAddress!, ldb: n,
                beta: 0, c: c.baseAddress!, ldc: n)
        }
        for _ in 0..<warmup { multiply() }
        let flops = 2 * Double(n) * Double(n) * Double(n)
        var runs: [Double] = []
        runs.reserveCapacity(repetitions)
        for _ in 0..<repetitions {
            let start = monotonicSeconds()
            multiply()
            let elapsed = max(monotonicSeconds() - start, 1e-9)
            runs.append(flops / elapsed / 1e9)
        }
        return SgemmPeak(n: n, threads: OpenBLASBridge.threadCount, core: OpenBLASBridge.coreName, runGFLOPS: runs)
    }
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
}
