/// Which OpenBLAS kernel this process runs, how it got there, and whether the
/// kernel computes GEMM correctly. Log it once at start-up.
public struct BLASKernelReport: Sendable, Equatable, CustomStringConvertible {
    /// How the running kernel was chosen.
    public enum Selection: Sendable, Equatable {
        /// OpenBLAS's own choice was kept: it already matches the CPU, or no
        /// faster family exists for this CPU.
        case libraryChoice
        /// The process re-executed itself with `OPENBLAS_CORETYPE=to`, replacing `from`.
        case upgraded(from: String, to: String)
        /// `OPENBLAS_CORETYPE` was set by the user; it always wins.
        case userForced(String)
        /// Selection was turned off with `HSNN_BLAS_AUTOSELECT=0`.
        case autoselectDisabled
        /// `core` was installed but failed verification, so the process
        /// re-executed once more with the library's own choice.
        case fastKernelRejected(core: String, maxRelativeError: Double)
        /// OpenBLAS reported a kernel family this module does not know; it was kept.
        case unknownCore(String)
        /// A faster kernel exists (`target`) but could not be installed.
        case upgradeUnavailable(target: String?, reason: UpgradeBlocker)
    }

    /// Why a faster kernel could not be installed.
    public enum UpgradeBlocker: Sendable, Equatable {
        /// The library is not a `DYNAMIC_ARCH` build and ignores `OPENBLAS_CORETYPE`.
        case libraryNotDynamic
        /// `/proc/self/exe` cannot be executed (no procfs, or restricted).
        case executableUnavailable
        /// `execve` failed with this `errno`.
        case reexecFailed(errno: Int32)
        /// The library did not accept the requested family and loaded `loaded` instead.
        case coreNotAccepted(loaded: String)
        /// ``BLASEnvironment/reexecMarker`` held a value this version cannot read.
        case unrecognisedMarker(String)
    }

    /// The kernel OpenBLAS chose on its own in the first process.
    public let initialCore: String
    /// The kernel this process runs.
    public let activeCore: String
    /// How ``activeCore`` was chosen.
    public let selection: Selection
    /// The family this module would pick for the CPU (`SkylakeX`, `Haswell`), if any.
    public let recommendedCore: String?
    /// The CPU's usable vector level.
    public let cpuLevel: SIMDLevel
    /// The CPU flags relevant to BLAS kernels (see ``CPUFeatures/relevantFlags``).
    public let cpuFlags: [String]
    /// The CPU model string, when known.
    public let cpuModel: String?
    /// How many times the process replaced itself (0, 1 or 2).
    public let reexecCount: Int
    /// The GEMM self-check of ``activeCore``.
    public let verification: SgemmVerification
    /// OpenBLAS threads per call.
    public let threads: Int
    /// OpenBLAS's build configuration string.
    public let libraryConfiguration: String

    /// Whether `OPENBLAS_CORETYPE` was set by the user.
    public var userForced: Bool {
        if case .userForced = selection { return true }
        return false
    }

    /// Whether the process re-executed itself at least once.
    public var reexecuted: Bool { reexecCount > 0 }

    /// Whether the running kernel is slower than the one recommended for the CPU.
    public var belowRecommended: Bool {
        guard let recommendedCore,
              let recommended = OpenBLASCore.simdLevel(ofCore: recommendedCore),
              let active = OpenBLASCore.simdLevel(ofCore: activeCore) else { return false }
        return active < recommended
    }

    /// Checks that the running kernel passed verification.
    /// - Throws: ``BLASError`` with
    ///   ``BLASError/Code/kernelVerificationFailed(core:maxRelativeError:)``
    ///   when it did not; GEMM results would be wrong, so the caller should stop.
    public func requireVerified() throws {
        guard verification.passed else {
            throw BLASError(.kernelVerificationFailed(core: activeCore, maxRelativeError: verification.maxRelativeError))
        }
    }

    /// The report as ordered key/value pairs with dotted keys, for structured
    /// logging (logger metadata or one JSON object).
    public var fields: [(key: String, value: String)] {
        var fields: [(key: String, value: String)] = [
            ("blas.core", activeCore),
            ("blas.core.initial", initialCore),
            ("blas.core.recommended", recommendedCore ?? "none"),
            ("blas.selection", selectionLabel),
            ("blas.reexec", String(reexecCount)),
            ("blas.user_forced", String(userForced)),
            ("blas.verified", String(verification.passed)),
            ("blas.verify.max_rel_error", String(verification.maxRelativeError)),
            ("blas.threads", String(threads)),
            ("cpu.simd", cpuLevel.description),
            ("cpu.flags", cpuFlags.joined(separator: ",")),
        ]
        if let cpuModel { fields.append(("cpu.model", cpuModel)) }
        fields.append(("blas.config", libraryConfiguration))
        return fields
    }

    /// One human-readable sentence on the outcome.
    public var summary: String {
        let check = verification.passed
            ? "GEMM self-check passed"
            : "GEMM self-check FAILED (max relative error \(verification.maxRelativeError))"
        let slower = belowRecommended ? " (slower than \(recommendedCore ?? "") available on this CPU)" : ""
        switch selection {
        case .libraryChoice:
            if let active = OpenBLASCore.simdLevel(ofCore: activeCore), active < cpuLevel {
                return "OpenBLAS kernel \(activeCore) kept: no faster family is selected automatically for "
                    + "\(cpuLevel.displayName) CPUs; \(check)"
            }
            return "OpenBLAS kernel \(activeCore) kept: it suits this \(cpuLevel.displayName) CPU; \(check)"
        case .upgraded(let from, let to):
            return "OpenBLAS kernel switched from \(from) to \(to) for this \(cpuLevel.displayName) CPU; \(check)"
        case .userForced(let core):
            return "OpenBLAS kernel forced by OPENBLAS_CORETYPE=\(core), running \(activeCore)\(slower); \(check)"
        case .autoselectDisabled:
            return "OpenBLAS kernel selection disabled by \(BLASEnvironment.autoselect), running \(activeCore)\(slower); \(check)"
        case .fastKernelRejected(let core, let error):
            return "OpenBLAS kernel \(core) failed the GEMM self-check (max relative error \(error)) and was dropped; "
                + "running \(activeCore)\(slower); \(check)"
        case .unknownCore(let core):
            return "OpenBLAS kernel \(core) is not a known x86-64 family and was kept; \(check)"
        case .upgradeUnavailable(let target, let reason):
            return "OpenBLAS kernel \(activeCore) kept although \(target ?? "a faster kernel") suits this CPU better: "
                + "\(reasonText(reason)); \(check)"
        }
    }

    public var description: String {
        fields.map { "\($0.key)=\($0.value.contains(" ") ? "\"\($0.value)\"" : $0.value)" }.joined(separator: " ")
    }

    private var selectionLabel: String {
        switch selection {
        case .libraryChoice: "library_choice"
        case .upgraded: "upgraded"
        case .userForced: "user_forced"
        case .autoselectDisabled: "autoselect_disabled"
        case .fastKernelRejected: "fast_kernel_rejected"
        case .unknownCore: "unknown_core"
        case .upgradeUnavailable(_, let reason):
            switch reason {
            case .libraryNotDynamic: "unavailable_library_not_dynamic"
            case .executableUnavailable: "unavailable_no_proc_self_exe"
            case .reexecFailed: "unavailable_exec_failed"
            case .coreNotAccepted: "unavailable_core_not_accepted"
            case .unrecognisedMarker: "unavailable_unrecognised_marker"
            }
        }
    }

    private func reasonText(_ reason: UpgradeBlocker) -> String {
        switch reason {
        case .libraryNotDynamic:
            "this OpenBLAS is not a DYNAMIC_ARCH build (install Debian's libopenblas0-pthread)"
        case .executableUnavailable:
            "/proc/self/exe cannot be executed; start the program with OPENBLAS_CORETYPE=\(recommendedCore ?? "<family>")"
        case .reexecFailed(let code):
            "re-executing the program failed (errno \(code)); start it with OPENBLAS_CORETYPE=\(recommendedCore ?? "<family>")"
        case .coreNotAccepted(let loaded):
            "this OpenBLAS does not know that family and loaded \(loaded)"
        case .unrecognisedMarker(let raw):
            "\(BLASEnvironment.reexecMarker)=\(raw) is not a value this program sets; unset it"
        }
    }
}
