import Testing
@testable import HSNNMath

@Suite("OpenBLAS core families")
struct OpenBLASCoreTests {
    @Test("generic and pre-AVX families are generic", arguments: [
        "Prescott", "Core2", "Katmai", "Banias", "Atom", "Nehalem", "Dunnington", "Penryn",
        "Northwood", "Coppermine", "Opteron", "Opteron_SSE3", "Barcelona", "Nano", "Athlon", "Unknown",
    ])
    func genericFamilies(core: String) {
        #expect(OpenBLASCore.isGeneric(core))
        #expect(OpenBLASCore.simdLevel(ofCore: core) == .sse)
    }

    @Test("vector families are not generic", arguments: [
        ("Sandybridge", SIMDLevel.avx), ("Bulldozer", .avx), ("Piledriver", .avx), ("Steamroller", .avx),
        ("Haswell", .avx2), ("Zen", .avx2), ("Excavator", .avx2),
        ("SkylakeX", .avx512), ("Cooperlake", .avx512), ("SapphireRapids", .avx512),
    ])
    func vectorFamilies(core: String, level: SIMDLevel) {
        #expect(!OpenBLASCore.isGeneric(core))
        #expect(OpenBLASCore.simdLevel(ofCore: core) == level)
    }

    @Test("matching ignores case, as OPENBLAS_CORETYPE does")
    func caseInsensitive() {
        #expect(OpenBLASCore.simdLevel(ofCore: "PRESCOTT") == .sse)
        #expect(OpenBLASCore.simdLevel(ofCore: "skylakex") == .avx512)
        #expect(OpenBLASCore.simdLevel(ofCore: "SKYLAKEX") == .avx512)
    }

    @Test("unknown families have no level", arguments: ["ARMV8", "NEOVERSEN1", "POWER9", "", "Skylake"])
    func unknownFamilies(core: String) {
        #expect(OpenBLASCore.simdLevel(ofCore: core) == nil)
        #expect(!OpenBLASCore.isGeneric(core))
    }

    @Test("preferred family per CPU level is one the library knows")
    func preferredCore() {
        #expect(OpenBLASCore.preferredCore(for: .avx512) == "SkylakeX")
        #expect(OpenBLASCore.preferredCore(for: .avx2) == "Haswell")
        #expect(OpenBLASCore.preferredCore(for: .avx) == nil)
        #expect(OpenBLASCore.preferredCore(for: .sse) == nil)
        for level in [SIMDLevel.avx2, .avx512] {
            let core = OpenBLASCore.preferredCore(for: level)!
            #expect(OpenBLASCore.simdLevel(ofCore: core) == level)
        }
    }
}
