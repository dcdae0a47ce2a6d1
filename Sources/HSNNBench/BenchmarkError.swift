/// Why a benchmark could not run.
public enum BenchmarkError: Error, Sendable, CustomStringConvertible {
    /// The input or the configuration cannot be benchmarked; the message says why.
    case invalid(String)
    /// The OpenBLAS kernel failed its self-check (already logged as critical).
    case kernelFailedSelfCheck

    public var description: String {
        switch self {
        case .invalid(let message): message
        case .kernelFailedSelfCheck: "OpenBLAS failed its self-check; refusing to benchmark"
        }
    }
}
