import Testing
@testable import HSNNMath

/// The real library, CPU and procfs, with `execve` recorded instead of run:
/// the test runner must not replace itself.
private final class NoExecLiveHost: KernelSelectionHost {
    let live = LiveKernelHost()
    private(set) var execEnvironments: [[String: String]] = []

    func loadedCore() -> String { live.loadedCore() }
    func libraryConfiguration() -> String { live.libraryConfiguration() }
    func cpuFeatures() -> CPUFeatures { live.cpuFeatures() }
    func canReexecute() -> Bool { live.canReexecute() }
    func verify() -> SgemmVerification { live.verify() }
    func threadCount() -> Int { live.threadCount() }
    func reexecute(arguments: [String], environment: [String: String]) -> Int32 {
        execEnvironments.append(environment)
        return 8
    }
}

@Suite("Kernel selection on this machine")
struct LiveKernelSelectionTests {
    @Test("this process's kernel is reported, verified, and upgraded only when slower than the CPU allows")
    func liveSelection() throws {
        let host = NoExecLiveHost()
        var environment = ProcessEnvironment.current()
        environment[BLASEnvironment.reexecMarker] = nil
        environment[BLASEnvironment.autoselect] = nil
        let report = BLASKernelSelection.select(host: host, arguments: ["probe"], environment: environment, announce: { _ in })

        #expect(report.activeCore == OpenBLASBridge.coreName)
        #expect(!report.activeCore.isEmpty)
        #expect(report.verification.passed)
        #expect(report.threads == BLASThreads.count)
        #expect(report.libraryConfiguration.hasPrefix("OpenBLAS"))
        if let requested = environment[BLASEnvironment.coreType], !requested.isEmpty {
            #expect(report.selection == .userForced(requested))
            #expect(host.execEnvironments.isEmpty)
        } else if host.execEnvironments.isEmpty {
            #expect(!report.belowRecommended)
        } else {
            let target = try #require(report.recommendedCore)
            #expect(host.execEnvironments.first?[BLASEnvironment.coreType] == target)
        }
    }

    #if os(Linux)
    @Test("/proc/self/exe is executable here")
    func procSelfExe() {
        #expect(LiveKernelHost().canReexecute())
    }

    @Test("the environment is read from the process")
    func environment() {
        let environment = ProcessEnvironment.current()
        #expect(environment["PATH"] != nil || environment["HOME"] != nil)
    }
    #endif
}
