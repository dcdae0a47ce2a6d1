/// An error from configuring or checking the BLAS runtime. The description
/// says what went wrong and what the operator should do.
public struct BLASError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: Sendable, Equatable {
        /// A thread count below one was requested.
        case invalidThreadCount(Int)
        /// The loaded GEMM kernel gave wrong results and no other kernel was tried.
        case kernelVerificationFailed(core: String, maxRelativeError: Double)
    }

    public let code: Code

    public init(_ code: Code) { self.code = code }

    public var description: String {
        switch code {
        case .invalidThreadCount(let count):
            return "BLAS thread count \(count) is invalid: set it to 1 or more (usually the number of cores)."
        case .kernelVerificationFailed(let core, let error):
            return "OpenBLAS kernel '\(core)' failed the GEMM self-check (max relative error \(error)): "
                + "results would be wrong. Start with OPENBLAS_CORETYPE=Haswell (or Prescott, the slow generic "
                + "kernel) to force another kernel, and report the CPU model and OpenBLAS version."
        }
    }
}
