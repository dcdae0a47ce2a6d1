/// The result of checking `cblas_sgemm` against a naive double-precision
/// reference on small random problems.
///
/// The problems cover all four transpose combinations, non-zero `beta`, padded
/// leading dimensions, sizes that are not multiples of any kernel's blocking,
/// and one size large enough for OpenBLAS to split across threads. Each
/// element's error is measured relative to `|alpha| * sum_p |a_ip * b_pj| + |beta * c_ij|`,
/// the natural scale of its rounding error, so the check is independent of the
/// data's magnitude. Writes outside the `m x n` block of C count as failures.
public struct SgemmVerification: Sendable, Equatable {
    /// Largest element-wise relative error seen (infinity when a result was
    /// not finite or memory outside C's block was written).
    public let maxRelativeError: Double
    /// Error above which the kernel is rejected.
    public let tolerance: Double
    /// Number of GEMM problems checked.
    public let problemCount: Int

    /// Whether every problem stayed within ``tolerance``.
    public var passed: Bool { maxRelativeError <= tolerance }

    /// The default tolerance: about a hundred times the worst rounding error of
    /// an 83-term single-precision dot product, far below what a wrong kernel produces.
    public static let defaultTolerance = 1e-4

    /// Runs the check against the loaded OpenBLAS, with the current thread count.
    ///
    /// Takes a few milliseconds; allocates only small scratch matrices.
    /// - Parameters:
    ///   - tolerance: Largest accepted relative error.
    ///   - seed: Seed of the random matrices.
    public static func run(tolerance: Double = defaultTolerance, seed: UInt64 = 0x5eed_b1a5) -> SgemmVerification {
        run(tolerance: tolerance, seed: seed) { call in
            OpenBLASBridge.sgemm(
                transposeA: call.transposeA, transposeB: call.transposeB,
                m: call.m, n: call.n, k: call.k,
                alpha: call.alpha, a: call.a, lda: call.lda, b: call.b, ldb: call.ldb,
                beta: call.beta, c: call.c, ldc: call.ldc)
        }
    }

    /// One row-major GEMM call, as handed to the implementation under test.
    struct Call {
        var transposeA: Bool, transposeB: Bool
        var m: Int, n: Int, k: Int
        var alpha: Float
        var a: UnsafePointer<Float>, lda: Int
        var b: UnsafePointer<Float>, ldb: Int
        var beta: Float
        var c: UnsafeMutablePointer<Float>, ldc: Int
    }

    struct Problem {
        var transposeA: Bool, transposeB: Bool
        var m: Int, n: Int, k: Int
        var alpha: Float, beta: Float
        /// Extra columns in every leading dimension.
        var padding: Int
    }

    static let problems: [Problem] = [
        Problem(transposeA: false, transposeB: false, m: 64, n: 48, k: 80, alpha: 1, beta: 0, padding: 0),
        Problem(transposeA: true, transposeB: false, m: 67, n: 45, k: 83, alpha: 0.5, beta: -1.25, padding: 3),
        Problem(transposeA: false, transposeB: true, m: 33, n: 70, k: 29, alpha: -1, beta: 0.5, padding: 5),
        Problem(transposeA: true, transposeB: true, m: 96, n: 80, k: 72, alpha: 1, beta: 1, padding: 1),
    ]

    /// Runs the check against any GEMM implementation (tests inject broken ones).
    static func run(tolerance: Double, seed: UInt64, gemm: (Call) -> Void) -> SgemmVerification {
        var random = SeededRandom(seed: seed)
        var worst = 0.0
        for problem in problems {
            let error = check(problem, random: &random, gemm: gemm)
            if !(error <= worst) { worst = error }  // also propagates NaN as failure
        }
        if worst.isNaN { worst = .infinity }
        return SgemmVerification(maxRelativeError: worst, tolerance: tolerance, problemCount: problems.count)
    }

    /// Largest relative error of one problem.
    private static func check(_ p: Problem, random: inout SeededRandom, gemm: (Call) -> Void) -> Double {
        // Stored shapes: A is m x k (or k x m when transposed), B is k x n (or n x k).
        let aRows = p.transposeA ? p.k : p.m, aCols = p.transposeA ? p.m : p.k
        let bRows = p.transposeB ? p.n : p.k, bCols = p.transposeB ? p.k : p.n
        let lda = aCols + p.padding, ldb = bCols + p.padding, ldc = p.n + p.padding
        let sentinel: Float = 12345.5

        let a = UnsafeMutableBufferPointer<Float>.allocate(capacity: aRows * lda)
        let b = UnsafeMutableBufferPointer<Float>.allocate(capacity: bRows * ldb)
        let c = UnsafeMutableBufferPointer<Float>.allocate(capacity: p.m * ldc)
        let c0 = UnsafeMutableBufferPointer<Float>.allocate(capacity: p.m * ldc)
        defer { a.deallocate(); b.deallocate(); c.deallocate(); c0.deallocate() }
        for i in a.indices { a[i] = random.signedUniform() }
        for i in b.indices { b[i] = random.signedUniform() }
        for row in 0..<p.m {
            for column in 0..<ldc {
                c0[row * ldc + column] = column < p.n ? random.signedUniform() : sentinel
            }
        }
        _ = c.initialize(fromContentsOf: c0)

        gemm(Call(
            transposeA: p.transposeA, transposeB: p.transposeB, m: p.m, n: p.n, k: p.k,
            alpha: p.alpha, a: UnsafePointer(a.baseAddress!), lda: lda,
            b: UnsafePointer(b.baseAddress!), ldb: ldb,
            beta: p.beta, c: c.baseAddress!, ldc: ldc))

        var worst = 0.0
        for row in 0..<p.m {
            for column in 0..<ldc where column >= p.n {
                if c[row * ldc + column] != sentinel { return .infinity }
            }
            for column in 0..<p.n {
                var sum = 0.0, scale = 0.0
                for inner in 0..<p.k {
                    let aValue = Double(p.transposeA ? a[inner * lda + row] : a[row * lda + inner])
                    let bValue = Double(p.transposeB ? b[column * ldb + inner] : b[inner * ldb + column])
                    sum += aValue * bValue
                    scale += abs(aValue * bValue)
                }
                let initial = Double(c0[row * ldc + column])
                let reference = Double(p.alpha) * sum + Double(p.beta) * initial
                let magnitude = abs(Double(p.alpha)) * scale + abs(Double(p.beta) * initial)
                let error = abs(Double(c[row * ldc + column]) - reference) / max(magnitude, 1e-30)
                if !(error <= worst) { worst = error.isNaN ? .infinity : error }
            }
        }
        return worst
    }
}
