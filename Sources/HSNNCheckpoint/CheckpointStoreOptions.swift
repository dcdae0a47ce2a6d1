import Foundation

/// How a ``CheckpointStore`` writes and retains versions.
public struct CheckpointStoreOptions: Sendable {
    /// Versions retention keeps besides `LATEST`, pinned and leased ones: the newest
    /// `keepVersions` intact versions (at least 1; default 5).
    public var keepVersions: Int
    /// Apply retention after every successful publish (default `true`).
    public var pruneAfterPublish: Bool
    /// Permission bits of every file written (default `0o640`), set explicitly, not via the umask.
    public var fileMode: UInt16
    /// Permission bits of every folder written (default `0o750`).
    public var folderMode: UInt16
    /// Bounds manifests must respect to be loaded.
    public var limits: CheckpointManifestLimits
    /// How long a publish or prune waits for another process's directory lock (default 60 s).
    public var lockTimeout: Duration
    /// Test hook called after each step of the publish protocol.
    package var faultInjector: PublishFaultInjector?

    public init(keepVersions: Int = 5, pruneAfterPublish: Bool = true, fileMode: UInt16 = 0o640, folderMode: UInt16 = 0o750,
                limits: CheckpointManifestLimits = .init(), lockTimeout: Duration = .seconds(60)) {
        self.keepVersions = keepVersions
        self.pruneAfterPublish = pruneAfterPublish
        self.fileMode = fileMode
        self.folderMode = folderMode
        self.limits = limits
        self.lockTimeout = lockTimeout
    }
}

/// The steps of the publish protocol, in order (see ``CheckpointStore/publish(metadata:writer:)``).
package enum PublishStep: String, Sendable, CaseIterable {
    case createdTemporaryFolder
    case wroteFiles
    case syncedFiles
    case wroteManifest
    case syncedTemporaryFolder
    case renamedVersionFolder
    case syncedDirectory
    case wroteLatestTemporary
    case renamedLatest
    case syncedDirectoryAfterLatest
}

/// Injects a failure after a publish step. Throwing ``SimulatedCrash`` stops the publish
/// dead, without any cleanup, as if the process had been killed at that point; any other
/// error takes the normal failure path.
package struct PublishFaultInjector: Sendable {
    package var handler: @Sendable (PublishStep) throws -> Void
    package init(_ handler: @escaping @Sendable (PublishStep) throws -> Void) { self.handler = handler }
}

/// Thrown by a ``PublishFaultInjector`` to simulate the process dying.
package struct SimulatedCrash: Error {
    package var step: PublishStep
    package init(step: PublishStep) { self.step = step }
}
