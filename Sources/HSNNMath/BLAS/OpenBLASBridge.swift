import COpenBLAS

/// The only place in this module that calls into OpenBLAS.
///
/// Every other file talks to the library through these functions, so no C
/// type leaves the bridge.
enum OpenBLASBridge {
    /// The kernel family OpenBLAS chose when it loaded (for example `Haswell`).
    static var coreName: String {
        guard let name = openblas_get_corename() else { return "" }
        return String(cString: name)
    }

    /// The build configuration string (version, `DYNAMIC_ARCH`, thread limit).
    static var configuration: String {
        guard let config = openblas_get_config() else { return "" }
        return String(cString: config)
    }

    static var threadCount: Int { Int(openblas_get_num_threads()) }

    static var processorCount: Int { Int(openblas_get_num_procs()) }

    static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(clamping: count))
    }

    /// Row-major single-precision GEMM: `C = alpha * op(A) * op(B) + beta * C`.
    static func sgemm(
        transposeA: Bool, transposeB: Bool,
        m: Int, n: Int, k: Int,
        alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor,
            transposeA ? CblasTrans : CblasNoTrans,
            transposeB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb),
            beta, c, Int32(ldc))
    }
}
