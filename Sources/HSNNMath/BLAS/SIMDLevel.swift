/// The widest vector instruction set a CPU offers, or a BLAS kernel family uses,
/// for single-precision GEMM.
public enum SIMDLevel: Int, Comparable, Sendable, CustomStringConvertible {
    /// SSE-class instructions only (OpenBLAS's generic `Prescott`, `Core2`, `Nehalem`, ...).
    case sse = 0
    /// AVX without AVX2/FMA3 (`Sandybridge`, `Bulldozer`, ...).
    case avx = 1
    /// AVX2 with FMA3 (`Haswell`, `Zen`).
    case avx2 = 2
    /// AVX-512 F/CD/BW/DQ/VL (`SkylakeX`, `Cooperlake`).
    case avx512 = 3

    public static func < (lhs: SIMDLevel, rhs: SIMDLevel) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The instruction set's usual spelling (`AVX-512`), for messages.
    public var displayName: String {
        switch self {
        case .sse: "SSE"
        case .avx: "AVX"
        case .avx2: "AVX2"
        case .avx512: "AVX-512"
        }
    }

    /// Lower-case identifier (`avx512`), for structured logs.
    public var description: String {
        switch self {
        case .sse: "sse"
        case .avx: "avx"
        case .avx2: "avx2"
        case .avx512: "avx512"
        }
    }
}
