/// Environment variables that steer kernel selection.
public enum BLASEnvironment {
    /// OpenBLAS's own override, read once when the library loads.
    public static let coreType = "OPENBLAS_CORETYPE"
    /// Set to `0`, `false`, `off` or `no` to keep OpenBLAS's own kernel choice.
    public static let autoselect = "HSNN_BLAS_AUTOSELECT"
    /// Marker the process sets when it re-executes itself; it is what makes a
    /// second upgrade attempt impossible. Not meant to be set by hand.
    public static let reexecMarker = "HSNN_BLAS_REEXEC"
}

/// The state passed from a process to its re-executed self in
/// ``BLASEnvironment/reexecMarker``.
///
/// Encoded as `selected;core=SkylakeX;from=Prescott` or
/// `rejected;core=SkylakeX;from=Prescott;error=0.5`.
enum ReexecMarker: Equatable {
    /// The process set `OPENBLAS_CORETYPE=core`, replacing the library's choice `from`.
    case selected(core: String, from: String)
    /// `core` failed verification; the process removed the override again.
    case rejected(core: String, from: String, maxRelativeError: Double)
    /// A value this version cannot read; treated as "already handled".
    case unrecognised(String)

    init?(environmentValue: String?) {
        guard let value = environmentValue, !value.isEmpty else { return nil }
        let parts = value.split(separator: ";").map(String.init)
        var fields: [String: String] = [:]
        for part in parts.dropFirst() {
            guard let equals = part.firstIndex(of: "=") else { continue }
            fields[String(part[..<equals])] = String(part[part.index(after: equals)...])
        }
        switch (parts.first, fields["core"], fields["from"]) {
        case ("selected", let core?, let from?) where !core.isEmpty:
            self = .selected(core: core, from: from)
        case ("rejected", let core?, let from?) where !core.isEmpty:
            self = .rejected(core: core, from: from, maxRelativeError: fields["error"].flatMap(Double.init) ?? .nan)
        default:
            self = .unrecognised(value)
        }
    }

    var environmentValue: String {
        switch self {
        case .selected(let core, let from): "selected;core=\(core);from=\(from)"
        case .rejected(let core, let from, let error): "rejected;core=\(core);from=\(from);error=\(error)"
        case .unrecognised(let raw): raw
        }
    }
}

/// Everything the selection policy looks at; no side effects.
struct KernelSelectionState: Equatable {
    /// `openblas_get_corename()` in this process.
    var loadedCore: String
    /// Whether the library was built with `DYNAMIC_ARCH` (honours `OPENBLAS_CORETYPE`).
    var libraryIsDynamic: Bool
    var cpuLevel: SIMDLevel
    var environment: [String: String]
    /// Whether `/proc/self/exe` can be executed.
    var canReexecute: Bool
}

/// What to do next.
enum KernelSelectionStep: Equatable {
    /// Replace the process with itself, with `OPENBLAS_CORETYPE` set to
    /// `coreType` (removed when `nil`) and the marker set.
    case reexecute(coreType: String?, marker: ReexecMarker)
    /// Continue in this process.
    case stay(BLASKernelReport.Selection)
}

/// The pure decision rules of kernel selection.
///
/// A process re-executes at most twice: once to install a faster kernel
/// (only when no marker is present) and once to remove it again when it fails
/// verification (only from the `selected` marker). A `rejected` or
/// unrecognised marker never leads to another re-execution.
enum KernelSelectionPolicy {
    /// The decision at start-up, before verifying the loaded kernel.
    static func initialStep(_ state: KernelSelectionState) -> KernelSelectionStep {
        let requested = state.environment[BLASEnvironment.coreType].flatMap { $0.isEmpty ? nil : $0 }

        if let marker = ReexecMarker(environmentValue: state.environment[BLASEnvironment.reexecMarker]) {
            switch marker {
            case .selected(let core, let from):
                guard let requested, requested.lowercased() == core.lowercased() else {
                    // The override changed after we set it: whoever changed it wins.
                    return .stay(requested.map { .userForced($0) } ?? .libraryChoice)
                }
                guard state.loadedCore.lowercased() == core.lowercased() else {
                    return .stay(.upgradeUnavailable(target: core, reason: .coreNotAccepted(loaded: state.loadedCore)))
                }
                return .stay(.upgraded(from: from, to: core))
            case .rejected(let core, _, let error):
                if let requested { return .stay(.userForced(requested)) }
                return .stay(.fastKernelRejected(core: core, maxRelativeError: error))
            case .unrecognised(let raw):
                if let requested { return .stay(.userForced(requested)) }
                return .stay(.upgradeUnavailable(target: nil, reason: .unrecognisedMarker(raw)))
            }
        }

        if let requested { return .stay(.userForced(requested)) }
        if isDisabled(state.environment[BLASEnvironment.autoselect]) { return .stay(.autoselectDisabled) }
        guard let loadedLevel = OpenBLASCore.simdLevel(ofCore: state.loadedCore) else {
            return .stay(.unknownCore(state.loadedCore))
        }
        guard let target = OpenBLASCore.preferredCore(for: state.cpuLevel),
              let targetLevel = OpenBLASCore.simdLevel(ofCore: target),
              loadedLevel < targetLevel
        else { return .stay(.libraryChoice) }
        guard state.libraryIsDynamic else {
            return .stay(.upgradeUnavailable(target: target, reason: .libraryNotDynamic))
        }
        guard state.canReexecute else {
            return .stay(.upgradeUnavailable(target: target, reason: .executableUnavailable))
        }
        return .reexecute(coreType: target, marker: .selected(core: target, from: state.loadedCore))
    }

    /// The decision once the loaded kernel has been verified: a kernel this
    /// process installed and that fails is removed again; any other outcome stands.
    static func stepAfterVerification(
        _ state: KernelSelectionState, selection: BLASKernelReport.Selection, verification: SgemmVerification
    ) -> KernelSelectionStep {
        guard case .upgraded(let from, let core) = selection, !verification.passed, state.canReexecute else {
            return .stay(selection)
        }
        return .reexecute(
            coreType: nil,
            marker: .rejected(core: core, from: from, maxRelativeError: verification.maxRelativeError))
    }

    /// Whether an ``BLASEnvironment/autoselect`` value turns selection off.
    static func isDisabled(_ value: String?) -> Bool {
        guard let value else { return false }
        return ["0", "false", "off", "no"].contains(value.lowercased())
    }
}
