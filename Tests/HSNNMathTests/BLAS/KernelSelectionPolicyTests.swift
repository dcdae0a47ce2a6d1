import Testing
@testable import HSNNMath

private func state(
    core: String, cpu: SIMDLevel, environment: [String: String] = [:],
    dynamic: Bool = true, canReexecute: Bool = true
) -> KernelSelectionState {
    KernelSelectionState(
        loadedCore: core, libraryIsDynamic: dynamic, cpuLevel: cpu,
        environment: environment, canReexecute: canReexecute)
}

private let passed = SgemmVerification(maxRelativeError: 1e-7, tolerance: 1e-4, problemCount: 4)
private let failed = SgemmVerification(maxRelativeError: 0.5, tolerance: 1e-4, problemCount: 4)

@Suite("Kernel selection policy")
struct KernelSelectionPolicyTests {
    @Test("generic kernel on an AVX-512 CPU re-executes with SkylakeX")
    func avx512Upgrade() {
        #expect(KernelSelectionPolicy.initialStep(state(core: "Prescott", cpu: .avx512))
            == .reexecute(coreType: "SkylakeX", marker: .selected(core: "SkylakeX", from: "Prescott")))
    }

    @Test("generic kernel on an AVX2 CPU re-executes with Haswell")
    func avx2Upgrade() {
        #expect(KernelSelectionPolicy.initialStep(state(core: "Nehalem", cpu: .avx2))
            == .reexecute(coreType: "Haswell", marker: .selected(core: "Haswell", from: "Nehalem")))
    }

    @Test("an AVX2 kernel on an AVX-512 CPU is upgraded too")
    func haswellOnAvx512() {
        #expect(KernelSelectionPolicy.initialStep(state(core: "Haswell", cpu: .avx512))
            == .reexecute(coreType: "SkylakeX", marker: .selected(core: "SkylakeX", from: "Haswell")))
    }

    @Test("a kernel that matches the CPU is kept", arguments: [
        ("Cooperlake", SIMDLevel.avx512), ("SkylakeX", .avx512), ("Haswell", .avx2), ("Zen", .avx2),
        ("SkylakeX", .avx2),  // better than the CPU's level: OpenBLAS knows best
        ("Sandybridge", .avx), ("Prescott", .avx), ("Prescott", .sse),  // no faster family for the CPU
    ])
    func kept(core: String, cpu: SIMDLevel) {
        #expect(KernelSelectionPolicy.initialStep(state(core: core, cpu: cpu)) == .stay(.libraryChoice))
    }

    @Test("an explicit OPENBLAS_CORETYPE always wins")
    func userForced() {
        let environment = [BLASEnvironment.coreType: "Prescott"]
        #expect(KernelSelectionPolicy.initialStep(state(core: "Prescott", cpu: .avx512, environment: environment))
            == .stay(.userForced("Prescott")))
        // Even when the user also disabled selection, or the library ignored the value.
        let both = [BLASEnvironment.coreType: "Bogus", BLASEnvironment.autoselect: "0"]
        #expect(KernelSelectionPolicy.initialStep(state(core: "Prescott", cpu: .avx512, environment: both))
            == .stay(.userForced("Bogus")))
    }

    @Test("an empty OPENBLAS_CORETYPE counts as unset")
    func emptyCoreType() {
        let environment = [BLASEnvironment.coreType: ""]
        #expect(KernelSelectionPolicy.initialStep(state(core: "Prescott", cpu: .avx512, environment: environment))
            == .reexecute(coreType: "SkylakeX", marker: .selected(core: "SkylakeX", from: "Prescott")))
    }

    @Test("HSNN_BLAS_AUTOSELECT turns selection off", arguments: ["0", "false", "OFF", "no"])
    func optOut(value: String) {
        let environment = [BLASEnvironment.autoselect: value]
        #expect(KernelSelectionPolicy.initialStep(state(core: "Prescott", cpu: .avx512, environment: environment))
            == .stay(.autoselectDisabled))
    }

    @Test("other HSNN_BLAS_AUTOSELECT values keep selection on", arguments: ["1", "true", "yes", ""])
    func optIn(value: String) {
        let environment = [BLASEnvironment.autoselect: value]
        #expect(KernelSelectionPolicy.initialStep(state(core: "Prescott", cpu: .avx512, environment: environment))
            == .reexecute(coreType: "SkylakeX", marker: .selected(core: "SkylakeX", from: "Prescott")))
    }

    @Test("unknown kernel families are kept")
    func unknownCore() {
        #expect(KernelSelectionPolicy.initialStep(state(core: "NEOVERSEN1", cpu: .sse)) == .stay(.unknownCore("NEOVERSEN1")))
        #expect(KernelSelectionPolicy.initialStep(state(core: "", cpu: .avx512)) == .stay(.unknownCore("")))
    }

    @Test("no re-execution without DYNAMIC_ARCH or /proc/self/exe")
    func blockers() {
        #expect(KernelSelectionPolicy.initialStep(state(core: "Prescott", cpu: .avx512, dynamic: false))
            == .stay(.upgradeUnavailable(target: "SkylakeX", reason: .libraryNotDynamic)))
        #expect(KernelSelectionPolicy.initialStep(state(core: "Prescott", cpu: .avx512, canReexecute: false))
            == .stay(.upgradeUnavailable(target: "SkylakeX", reason: .executableUnavailable)))
    }

    @Test("after our own re-execution the installed kernel is reported, not installed again")
    func afterSelection() {
        let environment = [
            BLASEnvironment.coreType: "SkylakeX",
            BLASEnvironment.reexecMarker: ReexecMarker.selected(core: "SkylakeX", from: "Prescott").environmentValue,
        ]
        #expect(KernelSelectionPolicy.initialStep(state(core: "SkylakeX", cpu: .avx512, environment: environment))
            == .stay(.upgraded(from: "Prescott", to: "SkylakeX")))
        // The library did not take the name: report it, do not try again.
        #expect(KernelSelectionPolicy.initialStep(state(core: "Prescott", cpu: .avx512, environment: environment))
            == .stay(.upgradeUnavailable(target: "SkylakeX", reason: .coreNotAccepted(loaded: "Prescott"))))
    }

    @Test("the marker alone never leads to another re-execution")
    func markerIsLoopGuard() {
        let selectedWithoutSetting = [
            BLASEnvironment.reexecMarker: ReexecMarker.selected(core: "SkylakeX", from: "Prescott").environmentValue,
        ]
        #expect(KernelSelectionPolicy.initialStep(state(core: "Prescott", cpu: .avx512, environment: selectedWithoutSetting))
            == .stay(.libraryChoice))
        let changedSetting = selectedWithoutSetting.merging([BLASEnvironment.coreType: "Haswell"]) { $1 }
        #expect(KernelSelectionPolicy.initialStep(state(core: "Haswell", cpu: .avx512, environment: changedSetting))
            == .stay(.userForced("Haswell")))
        let rejected = [
            BLASEnvironment.reexecMarker:
                ReexecMarker.rejected(core: "SkylakeX", from: "Prescott", maxRelativeError: 0.5).environmentValue,
        ]
        #expect(KernelSelectionPolicy.initialStep(state(core: "Prescott", cpu: .avx512, environment: rejected))
            == .stay(.fastKernelRejected(core: "SkylakeX", maxRelativeError: 0.5)))
        let garbage = [BLASEnvironment.reexecMarker: "1"]
        #expect(KernelSelectionPolicy.initialStep(state(core: "Prescott", cpu: .avx512, environment: garbage))
            == .stay(.upgradeUnavailable(target: nil, reason: .unrecognisedMarker("1"))))
    }

    @Test("a kernel we installed that fails verification is removed again")
    func rejectAfterVerification() {
        let current = state(core: "SkylakeX", cpu: .avx512)
        let upgraded = BLASKernelReport.Selection.upgraded(from: "Prescott", to: "SkylakeX")
        #expect(KernelSelectionPolicy.stepAfterVerification(current, selection: upgraded, verification: failed)
            == .reexecute(coreType: nil, marker: .rejected(core: "SkylakeX", from: "Prescott", maxRelativeError: 0.5)))
        #expect(KernelSelectionPolicy.stepAfterVerification(current, selection: upgraded, verification: passed)
            == .stay(upgraded))
        let stuck = state(core: "SkylakeX", cpu: .avx512, canReexecute: false)
        #expect(KernelSelectionPolicy.stepAfterVerification(stuck, selection: upgraded, verification: failed)
            == .stay(upgraded))
    }

    @Test("a failing kernel we did not install is reported, not replaced", arguments: [
        BLASKernelReport.Selection.userForced("SkylakeX"), .libraryChoice, .autoselectDisabled,
        .fastKernelRejected(core: "SkylakeX", maxRelativeError: 1),
    ])
    func noReplacementOfOthersChoice(selection: BLASKernelReport.Selection) {
        #expect(KernelSelectionPolicy.stepAfterVerification(
            state(core: "Prescott", cpu: .avx512), selection: selection, verification: failed) == .stay(selection))
    }

    @Test("markers survive the environment round trip")
    func markerRoundTrip() {
        let markers: [ReexecMarker] = [
            .selected(core: "SkylakeX", from: "Prescott"),
            .rejected(core: "Haswell", from: "Core2", maxRelativeError: 0.25),
            .rejected(core: "SkylakeX", from: "Prescott", maxRelativeError: .infinity),
        ]
        for marker in markers {
            #expect(ReexecMarker(environmentValue: marker.environmentValue) == marker)
        }
        #expect(ReexecMarker(environmentValue: nil) == nil)
        #expect(ReexecMarker(environmentValue: "") == nil)
        #expect(ReexecMarker(environmentValue: "selected;core=") == .unrecognised("selected;core="))
        #expect(ReexecMarker(environmentValue: "selected") == .unrecognised("selected"))
    }
}
