import Testing
@testable import HSNNMath

/// A straightforward row-major GEMM in single precision, summing in a
/// different order from any BLAS kernel.
private func naiveSgemm(_ call: SgemmVerification.Call) {
    for row in 0..<call.m {
        for column in 0..<call.n {
            var sum: Float = 0
            for inner in (0..<call.k).reversed() {
                let a = call.transposeA ? call.a[inner * call.lda + row] : call.a[row * call.lda + inner]
                let b = call.transposeB ? call.b[column * call.ldb + inner] : call.b[inner * call.ldb + column]
                sum += a * b
            }
            let index = row * call.ldc + column
            call.c[index] = call.alpha * sum + call.beta * call.c[index]
        }
    }
}

@Suite("GEMM verification")
struct SgemmVerificationTests {
    @Test("the loaded OpenBLAS kernel passes")
    func openBLASPasses() {
        let result = SgemmVerification.run()
        #expect(result.passed, "max relative error \(result.maxRelativeError) with \(OpenBLASBridge.coreName)")
        #expect(result.problemCount == SgemmVerification.problems.count)
        #expect(result.maxRelativeError < 1e-5)
    }

    @Test("a correct GEMM summing in another order passes")
    func naivePasses() {
        let result = SgemmVerification.run(tolerance: SgemmVerification.defaultTolerance, seed: 7, gemm: naiveSgemm)
        #expect(result.passed)
        #expect(result.maxRelativeError > 0)  // single precision does round
    }

    @Test("one wrong element fails")
    func oneWrongElement() {
        let result = SgemmVerification.run(tolerance: SgemmVerification.defaultTolerance, seed: 7) { call in
            naiveSgemm(call)
            if call.transposeA && call.transposeB { call.c[5 * call.ldc + 7] += 0.01 }
        }
        #expect(!result.passed)
        #expect(result.maxRelativeError > SgemmVerification.defaultTolerance)
    }

    @Test("ignoring beta fails")
    func ignoringBeta() {
        let result = SgemmVerification.run(tolerance: SgemmVerification.defaultTolerance, seed: 7) { call in
            var ignored = call
            ignored.beta = 0
            naiveSgemm(ignored)
        }
        #expect(!result.passed)
    }

    @Test("ignoring B's transpose fails")
    func ignoringTranspose() {
        // Reading a transposed B as if it were not stays inside its storage for every problem.
        let result = SgemmVerification.run(tolerance: SgemmVerification.defaultTolerance, seed: 7) { call in
            var wrong = call
            wrong.transposeB = false
            naiveSgemm(wrong)
        }
        #expect(!result.passed)
    }

    @Test("writing outside C's block fails")
    func writesIntoPadding() {
        let result = SgemmVerification.run(tolerance: SgemmVerification.defaultTolerance, seed: 7) { call in
            naiveSgemm(call)
            if call.ldc > call.n { call.c[call.n] = 0 }
        }
        #expect(result.maxRelativeError == .infinity)
        #expect(!result.passed)
    }

    @Test("NaN results fail")
    func nanFails() {
        let result = SgemmVerification.run(tolerance: SgemmVerification.defaultTolerance, seed: 7) { call in
            naiveSgemm(call)
            call.c[0] = .nan
        }
        #expect(!result.passed)
        #expect(result.maxRelativeError == .infinity)
    }

    @Test("the check is deterministic per seed")
    func deterministic() {
        let first = SgemmVerification.run(tolerance: 1e-4, seed: 42, gemm: naiveSgemm)
        let second = SgemmVerification.run(tolerance: 1e-4, seed: 42, gemm: naiveSgemm)
        #expect(first == second)
    }
}
