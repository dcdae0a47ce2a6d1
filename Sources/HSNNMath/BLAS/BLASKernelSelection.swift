#if canImport(Glibc)
import Glibc
#endif

/// Makes sure the process runs OpenBLAS's fastest correct GEMM kernel for the CPU.
///
/// A `DYNAMIC_ARCH` OpenBLAS picks its kernel family when the library loads,
/// before `main`, and falls back to generic SSE kernels ("Prescott") on CPUs it
/// does not recognise, several times slower than the AVX2 or AVX-512 kernels
/// the CPU could run. The only way to change the choice is the
/// `OPENBLAS_CORETYPE` environment variable at load time, so
/// ``ensureFastKernel(arguments:environment:announce:)`` re-executes the
/// program with that variable set, then checks the new kernel's GEMM against a
/// reference before trusting it.
public enum BLASKernelSelection {
    /// Checks the loaded kernel against the CPU, re-executes the program with a
    /// faster one when OpenBLAS chose a generic kernel, and verifies the kernel
    /// that ends up running.
    ///
    /// Call it first thing in `main`, before any other thread starts and before
    /// anything is written: when it re-executes, the current process image is
    /// replaced and the program starts again from the top with the same
    /// arguments. It never re-executes more than twice and never when:
    /// - `OPENBLAS_CORETYPE` is already set by the user (the user always wins);
    /// - `HSNN_BLAS_AUTOSELECT` is `0`, `false`, `off` or `no`;
    /// - the loaded kernel already uses the CPU's widest vectors, or the
    ///   kernel family is unknown (non-x86 builds);
    /// - the library is not a `DYNAMIC_ARCH` build or `/proc/self/exe` cannot
    ///   be executed.
    ///
    /// An installed kernel that fails verification is dropped by one more
    /// re-execution without the override; the report says so.
    ///
    /// - Parameters:
    ///   - arguments: The program's arguments, including `argv[0]`.
    ///   - environment: The process environment; `nil` reads it from the process.
    ///   - announce: Called with one line just before each re-execution. It
    ///     must write synchronously (for example to standard error).
    /// - Returns: What runs now and how it was chosen; log it once. Check
    ///   ``BLASKernelReport/requireVerified()`` before doing GEMM work.
    public static func ensureFastKernel(
        arguments: [String] = CommandLine.arguments,
        environment: [String: String]? = nil,
        announce: (String) -> Void = { _ in }
    ) -> BLASKernelReport {
        select(
            host: LiveKernelHost(), arguments: arguments,
            environment: environment ?? ProcessEnvironment.current(), announce: announce)
    }

    /// The selection procedure over any host (tests use a recording host).
    static func select<Host: KernelSelectionHost>(
        host: Host, arguments: [String], environment: [String: String], announce: (String) -> Void
    ) -> BLASKernelReport {
        let cpu = host.cpuFeatures()
        let configuration = host.libraryConfiguration()
        let state = KernelSelectionState(
            loadedCore: host.loadedCore(),
            libraryIsDynamic: configuration.contains("DYNAMIC_ARCH"),
            cpuLevel: cpu.simdLevel,
            environment: environment,
            canReexecute: host.canReexecute())
        let marker = ReexecMarker(environmentValue: environment[BLASEnvironment.reexecMarker])

        var selection: BLASKernelReport.Selection
        switch KernelSelectionPolicy.initialStep(state) {
        case .stay(let outcome):
            selection = outcome
        case .reexecute(let coreType, let newMarker):
            announce("OpenBLAS chose \(state.loadedCore) on a CPU with \(cpu.simdLevel.displayName); "
                + "restarting with \(BLASEnvironment.coreType)=\(coreType ?? "") before verifying it")
            let code = host.reexecute(
                arguments: arguments, environment: reexecEnvironment(environment, coreType: coreType, marker: newMarker))
            selection = .upgradeUnavailable(target: coreType, reason: .reexecFailed(errno: code))
        }

        let verification = host.verify()
        if case .reexecute(let coreType, let newMarker) = KernelSelectionPolicy.stepAfterVerification(
            state, selection: selection, verification: verification) {
            announce("OpenBLAS kernel \(state.loadedCore) failed the GEMM self-check (max relative error "
                + "\(verification.maxRelativeError)); restarting with the library's own choice")
            let code = host.reexecute(
                arguments: arguments, environment: reexecEnvironment(environment, coreType: coreType, marker: newMarker))
            // Still running the failing kernel; the report's verification says so.
            selection = .upgradeUnavailable(target: nil, reason: .reexecFailed(errno: code))
        }

        let initialCore: String
        let reexecCount: Int
        switch marker {
        case .selected(_, let from)?:
            initialCore = from
            reexecCount = 1
        case .rejected(_, let from, _)?:
            initialCore = from
            reexecCount = 2
        case .unrecognised?, nil:
            initialCore = state.loadedCore
            reexecCount = 0
        }
        return BLASKernelReport(
            initialCore: initialCore,
            activeCore: state.loadedCore,
            selection: selection,
            recommendedCore: OpenBLASCore.preferredCore(for: cpu.simdLevel),
            cpuLevel: cpu.simdLevel,
            cpuFlags: cpu.relevantFlagsPresent,
            cpuModel: cpu.modelName,
            reexecCount: reexecCount,
            verification: verification,
            threads: host.threadCount(),
            libraryConfiguration: configuration)
    }

    /// The environment of the re-executed process.
    static func reexecEnvironment(
        _ environment: [String: String], coreType: String?, marker: ReexecMarker
    ) -> [String: String] {
        var next = environment
        next[BLASEnvironment.coreType] = coreType
        next[BLASEnvironment.reexecMarker] = marker.environmentValue
        return next
    }
}

/// The side effects kernel selection needs.
protocol KernelSelectionHost {
    func loadedCore() -> String
    func libraryConfiguration() -> String
    func cpuFeatures() -> CPUFeatures
    func canReexecute() -> Bool
    func verify() -> SgemmVerification
    func threadCount() -> Int
    /// Replaces the process image; returns only on failure, with `errno`.
    func reexecute(arguments: [String], environment: [String: String]) -> Int32
}

/// The real process: OpenBLAS, `/proc`, `execve`.
struct LiveKernelHost: KernelSelectionHost {
    static let selfExecutable = "/proc/self/exe"

    func loadedCore() -> String { OpenBLASBridge.coreName }
    func libraryConfiguration() -> String { OpenBLASBridge.configuration }
    func cpuFeatures() -> CPUFeatures { CPUFeatures.current() }
    func verify() -> SgemmVerification { SgemmVerification.run() }
    func threadCount() -> Int { OpenBLASBridge.threadCount }

    func canReexecute() -> Bool {
        #if os(Linux)
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink(Self.selfExecutable, &buffer, buffer.count)
        return length > 0 && access(Self.selfExecutable, X_OK) == 0
        #else
        return false
        #endif
    }

    func reexecute(arguments: [String], environment: [String: String]) -> Int32 {
        #if os(Linux)
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        fflush(nil)
        execve(Self.selfExecutable, argv, envp)
        return errno
        #else
        return ENOSYS
        #endif
    }
}

/// Reads the process environment without Foundation.
enum ProcessEnvironment {
    static func current() -> [String: String] {
        var result: [String: String] = [:]
        #if canImport(Glibc)
        let start: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = environ
        guard var entry = start else { return result }
        while let pointer = entry.pointee {
            let text = String(cString: pointer)
            if let equals = text.firstIndex(of: "=") {
                let key = String(text[..<equals])
                if result[key] == nil { result[key] = String(text[text.index(after: equals)...]) }
            }
            entry += 1
        }
        #endif
        return result
    }
}
