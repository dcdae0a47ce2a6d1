import Testing
@testable import HSNNMath

@Suite("CPU features")
struct CPUFeaturesTests {
    static let sapphireRapids = """
        processor\t: 0
        vendor_id\t: GenuineIntel
        model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
        flags\t\t: fpu vme sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 avx512f avx512dq avx512ifma avx512cd avx512bw avx512vl avx512_bf16 amx_bf16 amx_tile
        bugs\t\t: spectre_v1

        processor\t: 1
        model name\t: Other
        flags\t\t: fpu sse
        """

    @Test("parses the first flags and model name lines")
    func parsesCpuinfo() {
        let cpu = CPUFeatures(cpuinfo: Self.sapphireRapids)
        #expect(cpu.modelName == "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz")
        #expect(cpu.flags.contains("avx512bw"))
        #expect(!cpu.flags.contains("bugs"))
        #expect(cpu.simdLevel == .avx512)
        #expect(cpu.relevantFlagsPresent == [
            "avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl",
            "avx512_bf16", "amx_tile", "amx_bf16",
        ])
    }

    @Test("vector level needs the complete feature set", arguments: [
        (["avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"], SIMDLevel.avx512),
        (["avx", "avx2", "fma", "avx512f", "avx512cd"], .avx2),  // Xeon Phi style: no BW/DQ/VL
        (["avx", "avx2", "fma"], .avx2),
        (["avx", "avx2"], .avx),  // AVX2 without FMA3
        (["avx", "fma"], .avx),
        (["sse", "sse2", "ssse3"], .sse),
        ([], .sse),
    ])
    func levels(flags: [String], level: SIMDLevel) {
        #expect(CPUFeatures(flags: Set(flags)).simdLevel == level)
    }

    @Test("flags are compared in lower case")
    func lowerCase() {
        #expect(CPUFeatures(flags: ["AVX2", "FMA", "AVX"]).simdLevel == .avx2)
    }

    @Test("text without a flags line gives no features")
    func noFlags() {
        let cpu = CPUFeatures(cpuinfo: "processor : 0\nmodel name : Foo\n")
        #expect(cpu.flags.isEmpty)
        #expect(cpu.modelName == "Foo")
        #expect(cpu.simdLevel == .sse)
    }

    #if os(Linux) && arch(x86_64)
    @Test("reads this machine's /proc/cpuinfo")
    func currentMachine() {
        let cpu = CPUFeatures.current()
        #expect(!cpu.flags.isEmpty)
        #expect(cpu.flags.contains("sse2"))  // every x86-64 CPU
    }
    #endif
}
