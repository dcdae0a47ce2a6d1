import Testing
@testable import HSNNMath

/// One simulated process: a library that loads `OPENBLAS_CORETYPE` when it
/// knows the name and its own choice otherwise, and an `execve` that records
/// its call instead of replacing the process.
private final class SimulatedProcess: KernelSelectionHost {
    let machine: SimulatedMachine
    let environment: [String: String]
    private(set) var execCalls: [(arguments: [String], environment: [String: String])] = []
    private(set) var verifications = 0

    init(machine: SimulatedMachine, environment: [String: String]) {
        self.machine = machine
        self.environment = environment
    }

    func loadedCore() -> String {
        if machine.dynamic, let requested = environment[BLASEnvironment.coreType],
           let known = machine.knownCores.first(where: { $0.lowercased() == requested.lowercased() }) {
            return known
        }
        return machine.libraryChoice
    }

    func libraryConfiguration() -> String {
        "OpenBLAS 0.3.21 NO_LAPACKE \(machine.dynamic ? "DYNAMIC_ARCH " : "")NO_AFFINITY \(loadedCore()) MAX_THREADS=64"
    }

    func cpuFeatures() -> CPUFeatures { CPUFeatures(flags: machine.cpuFlags, modelName: "Simulated CPU") }
    func canReexecute() -> Bool { machine.canReexecute }
    func threadCount() -> Int { 2 }

    func verify() -> SgemmVerification {
        verifications += 1
        let broken = machine.brokenCores.contains(loadedCore())
        return SgemmVerification(maxRelativeError: broken ? 0.75 : 2e-7, tolerance: 1e-4, problemCount: 4)
    }

    func reexecute(arguments: [String], environment: [String: String]) -> Int32 {
        execCalls.append((arguments, environment))
        return machine.execErrno
    }
}

private struct SimulatedMachine {
    var libraryChoice: String
    var cpuFlags: Set<String>
    var knownCores: [String] = ["Prescott", "Nehalem", "Sandybridge", "Haswell", "Zen", "SkylakeX", "Cooperlake"]
    var brokenCores: Set<String> = []
    var dynamic = true
    var canReexecute = true
    /// What a failed `execve` returns; the simulation treats any call as a success.
    var execErrno: Int32 = 8  // ENOEXEC

    static let avx512Flags: Set<String> = ["avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
    static let avx2Flags: Set<String> = ["avx", "avx2", "fma"]

    /// Runs the program from a fresh start, following each recorded `execve`
    /// as a new process; returns every process's report.
    func run(environment: [String: String], arguments: [String] = ["hsnn", "train", "--out", "dir with space"])
        -> (reports: [BLASKernelReport], processes: [SimulatedProcess])
    {
        var reports: [BLASKernelReport] = []
        var processes: [SimulatedProcess] = []
        var environment = environment
        for _ in 0..<10 {
            let process = SimulatedProcess(machine: self, environment: environment)
            reports.append(BLASKernelSelection.select(
                host: process, arguments: arguments, environment: environment, announce: { _ in }))
            processes.append(process)
            guard let exec = process.execCalls.first else { break }
            #expect(exec.arguments == arguments)
            environment = exec.environment
        }
        return (reports, processes)
    }
}

@Suite("Kernel selection end to end (simulated processes)")
struct KernelSelectionTests {
    @Test("Prescott on an AVX-512 CPU: one re-execution, then SkylakeX verified")
    func upgrade() throws {
        let machine = SimulatedMachine(libraryChoice: "Prescott", cpuFlags: SimulatedMachine.avx512Flags)
        let (reports, processes) = machine.run(environment: ["PATH": "/usr/bin", "HSNN_CONFIG": "a=b"])
        #expect(processes.count == 2)
        let exec = try #require(processes.first?.execCalls.first)
        #expect(exec.environment["OPENBLAS_CORETYPE"] == "SkylakeX")
        #expect(exec.environment["PATH"] == "/usr/bin")
        #expect(exec.environment["HSNN_CONFIG"] == "a=b")
        #expect(exec.environment["HSNN_BLAS_REEXEC"] == "selected;core=SkylakeX;from=Prescott")

        let final = try #require(reports.last)
        #expect(final.selection == .upgraded(from: "Prescott", to: "SkylakeX"))
        #expect(final.initialCore == "Prescott")
        #expect(final.activeCore == "SkylakeX")
        #expect(final.reexecCount == 1)
        #expect(final.verification.passed)
        #expect(!final.userForced)
        #expect(!final.belowRecommended)
        #expect(processes.last?.execCalls.isEmpty == true)
        try final.requireVerified()
    }

    @Test("a broken fast kernel is rejected and the library's choice restored")
    func rejection() throws {
        var machine = SimulatedMachine(libraryChoice: "Prescott", cpuFlags: SimulatedMachine.avx512Flags)
        machine.brokenCores = ["SkylakeX"]
        let (reports, processes) = machine.run(environment: ["PATH": "/usr/bin"])
        #expect(processes.count == 3)
        let second = try #require(processes.dropFirst().first?.execCalls.first)
        #expect(second.environment["OPENBLAS_CORETYPE"] == nil)
        #expect(second.environment["PATH"] == "/usr/bin")
        #expect(ReexecMarker(environmentValue: second.environment["HSNN_BLAS_REEXEC"])
            == .rejected(core: "SkylakeX", from: "Prescott", maxRelativeError: 0.75))

        let final = try #require(reports.last)
        #expect(final.selection == .fastKernelRejected(core: "SkylakeX", maxRelativeError: 0.75))
        #expect(final.activeCore == "Prescott")
        #expect(final.initialCore == "Prescott")
        #expect(final.reexecCount == 2)
        #expect(final.verification.passed)
        #expect(final.belowRecommended)
        #expect(final.summary.contains("SkylakeX failed the GEMM self-check"))
    }

    @Test("a user's setting wins: no re-execution, just verification")
    func userForced() throws {
        let machine = SimulatedMachine(libraryChoice: "Prescott", cpuFlags: SimulatedMachine.avx512Flags)
        let (reports, processes) = machine.run(environment: ["OPENBLAS_CORETYPE": "Haswell"])
        #expect(processes.count == 1)
        #expect(processes[0].verifications == 1)
        let report = try #require(reports.first)
        #expect(report.selection == .userForced("Haswell"))
        #expect(report.userForced)
        #expect(report.activeCore == "Haswell")
        #expect(report.recommendedCore == "SkylakeX")
        #expect(report.belowRecommended)
        #expect(report.reexecCount == 0)
    }

    @Test("a user-forced kernel that fails verification is reported and refused, never replaced")
    func userForcedBroken() throws {
        var machine = SimulatedMachine(libraryChoice: "Prescott", cpuFlags: SimulatedMachine.avx512Flags)
        machine.brokenCores = ["SkylakeX"]
        let (reports, processes) = machine.run(environment: ["OPENBLAS_CORETYPE": "skylakex"])
        #expect(processes.count == 1)
        let report = try #require(reports.first)
        #expect(!report.verification.passed)
        #expect(throws: BLASError(.kernelVerificationFailed(core: "SkylakeX", maxRelativeError: 0.75))) {
            try report.requireVerified()
        }
    }

    @Test("a failed execve leaves the process running and says why")
    func execFailure() throws {
        var machine = SimulatedMachine(libraryChoice: "Core2", cpuFlags: SimulatedMachine.avx2Flags)
        machine.execErrno = 13  // EACCES
        let process = SimulatedProcess(machine: machine, environment: [:])
        let report = BLASKernelSelection.select(host: process, arguments: ["hsnn"], environment: [:], announce: { _ in })
        #expect(process.execCalls.count == 1)
        #expect(process.execCalls.first?.environment["OPENBLAS_CORETYPE"] == "Haswell")
        #expect(report.selection == .upgradeUnavailable(target: "Haswell", reason: .reexecFailed(errno: 13)))
        #expect(report.activeCore == "Core2")
        #expect(report.verification.passed)
    }

    @Test("announce is called once before each re-execution")
    func announces() {
        let machine = SimulatedMachine(libraryChoice: "Prescott", cpuFlags: SimulatedMachine.avx512Flags)
        var lines: [String] = []
        let process = SimulatedProcess(machine: machine, environment: [:])
        _ = BLASKernelSelection.select(host: process, arguments: ["hsnn"], environment: [:]) { lines.append($0) }
        #expect(lines.count == 1)
        #expect(lines.first?.contains("OPENBLAS_CORETYPE=SkylakeX") == true)
    }

    @Test("never more than two re-executions, whatever the machine")
    func boundedReexecution() {
        let libraryChoices = ["Prescott", "Core2", "Sandybridge", "Haswell", "SkylakeX", "NEOVERSEN1"]
        let cpus = [SimulatedMachine.avx512Flags, SimulatedMachine.avx2Flags, ["avx"], []]
        let brokenSets: [Set<String>] = [[], ["SkylakeX"], ["Haswell"], ["SkylakeX", "Haswell", "Prescott", "Core2"]]
        let knownSets = [
            ["Prescott", "Core2", "Sandybridge", "Haswell", "SkylakeX"],
            ["Prescott", "Core2", "Sandybridge", "Haswell"],  // an old library without SkylakeX
        ]
        let environments: [[String: String]] = [
            [:], ["OPENBLAS_CORETYPE": "Prescott"], ["HSNN_BLAS_AUTOSELECT": "0"],
            ["HSNN_BLAS_REEXEC": "selected;core=SkylakeX;from=Prescott"], ["HSNN_BLAS_REEXEC": "junk"],
        ]
        for choice in libraryChoices {
            for cpu in cpus {
                for broken in brokenSets {
                    for known in knownSets {
                        for environment in environments {
                            var machine = SimulatedMachine(libraryChoice: choice, cpuFlags: cpu)
                            machine.brokenCores = broken
                            machine.knownCores = known
                            let (reports, _) = machine.run(environment: environment)
                            #expect(reports.count <= 3, "\(choice) \(cpu) \(broken) \(environment)")
                            // An installed kernel is only kept when it verified.
                            if case .upgraded = reports.last?.selection {
                                #expect(reports.last?.verification.passed == true)
                            }
                        }
                    }
                }
            }
        }
    }

    @Test("summaries name the running kernel and what happened")
    func summaries() throws {
        let avx512 = SimulatedMachine(libraryChoice: "Prescott", cpuFlags: SimulatedMachine.avx512Flags)
        let upgraded = try #require(avx512.run(environment: [:]).reports.last)
        #expect(upgraded.summary == "OpenBLAS kernel switched from Prescott to SkylakeX for this AVX-512 CPU; GEMM self-check passed")
        let forced = try #require(avx512.run(environment: ["OPENBLAS_CORETYPE": "Prescott"]).reports.last)
        #expect(forced.summary.contains("OPENBLAS_CORETYPE=Prescott"))
        #expect(forced.summary.contains("slower than SkylakeX"))
        let optedOut = try #require(avx512.run(environment: ["HSNN_BLAS_AUTOSELECT": "0"]).reports.last)
        #expect(optedOut.summary.contains("disabled by HSNN_BLAS_AUTOSELECT"))
        let avxOnly = SimulatedMachine(libraryChoice: "Prescott", cpuFlags: ["avx"])
        let kept = try #require(avxOnly.run(environment: [:]).reports.last)
        #expect(kept.summary.contains("no faster family"))
        var broken = SimulatedMachine(libraryChoice: "Haswell", cpuFlags: SimulatedMachine.avx2Flags)
        broken.brokenCores = ["Haswell"]
        let failing = try #require(broken.run(environment: [:]).reports.last)
        #expect(failing.summary.contains("GEMM self-check FAILED"))
    }

    @Test("the report logs as ordered dotted fields")
    func reportFields() throws {
        let machine = SimulatedMachine(libraryChoice: "Prescott", cpuFlags: SimulatedMachine.avx512Flags)
        let final = try #require(machine.run(environment: [:]).reports.last)
        let fields = final.fields
        #expect(fields.first?.key == "blas.core")
        #expect(fields.first?.value == "SkylakeX")
        let byKey = Dictionary(uniqueKeysWithValues: fields.map { ($0.key, $0.value) })
        #expect(byKey["blas.core.initial"] == "Prescott")
        #expect(byKey["blas.selection"] == "upgraded")
        #expect(byKey["blas.reexec"] == "1")
        #expect(byKey["blas.verified"] == "true")
        #expect(byKey["blas.threads"] == "2")
        #expect(byKey["cpu.simd"] == "avx512")
        #expect(byKey["cpu.model"] == "Simulated CPU")
        #expect(final.description.hasPrefix("blas.core=SkylakeX blas.core.initial=Prescott"))
    }
}
