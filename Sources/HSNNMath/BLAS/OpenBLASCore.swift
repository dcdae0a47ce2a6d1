/// What this module knows about OpenBLAS kernel families ("cores"), the names
/// `openblas_get_corename()` returns and `OPENBLAS_CORETYPE` accepts.
public enum OpenBLASCore {
    /// The kernel family OpenBLAS runs in this process (e.g. `SkylakeX`, `Haswell`, `Prescott`).
    public static var active: String { OpenBLASBridge.coreName }

    /// Vector level of the single-precision GEMM kernels of each x86-64 core
    /// family a `DYNAMIC_ARCH` OpenBLAS 0.3.x can select, keyed by lower-case name.
    ///
    /// Names outside this table (other architectures, future families) are
    /// unknown and never trigger a kernel change.
    static let levels: [String: SIMDLevel] = [
        // Generic and pre-AVX families: SSE kernels.
        "unknown": .sse, "katmai": .sse, "coppermine": .sse, "northwood": .sse,
        "prescott": .sse, "banias": .sse, "atom": .sse, "core2": .sse, "penryn": .sse,
        "dunnington": .sse, "nehalem": .sse, "athlon": .sse, "opteron": .sse,
        "opteron_sse3": .sse, "barcelona": .sse, "nano": .sse,
        // AVX without AVX2.
        "sandybridge": .avx, "bulldozer": .avx, "piledriver": .avx, "steamroller": .avx,
        // AVX2 + FMA3.
        "haswell": .avx2, "zen": .avx2, "excavator": .avx2,
        // AVX-512.
        "skylakex": .avx512, "cooperlake": .avx512, "sapphirerapids": .avx512,
    ]

    /// The vector level of a core family's GEMM kernels, or `nil` for a name
    /// this module does not know. Matching ignores case.
    public static func simdLevel(ofCore name: String) -> SIMDLevel? {
        levels[name.lowercased()]
    }

    /// Whether the core is one of OpenBLAS's generic or pre-AVX fallbacks.
    public static func isGeneric(_ name: String) -> Bool {
        simdLevel(ofCore: name) == .sse
    }

    /// The core family to request for a CPU at `level`, or `nil` when the
    /// library's own choice cannot be improved on.
    ///
    /// AVX-512 maps to `SkylakeX`: `Cooperlake` and later only add bfloat16
    /// kernels, and `SapphireRapids` is unknown to OpenBLAS 0.3.21, so
    /// `SkylakeX` is the family every `DYNAMIC_ARCH` build accepts with the
    /// full-width single-precision kernels.
    public static func preferredCore(for level: SIMDLevel) -> String? {
        switch level {
        case .avx512: "SkylakeX"
        case .avx2: "Haswell"
        case .avx, .sse: nil
        }
    }
}
