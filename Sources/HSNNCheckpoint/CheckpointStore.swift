import Dispatch
import Foundation
import Logging
import Synchronization
import HSNNSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A directory of versioned checkpoints.
///
/// Layout of the directory `DIR`:
/// ```
/// DIR/LATEST              "v00000042\n": the version to load
/// DIR/v00000042/          one folder per version (v + 8 digits)
///     manifest.json       CheckpointManifest: metadata, offsets, size and SHA-256 of every file
///     PINNED              present when pinned (retention keeps it); text: when and why
///     .reading            lock file readers hold a shared flock on (see CheckpointReadLease)
///     *.safetensors ...   the files the state writer produced
/// DIR/.publish.lock       flock held while publishing or pruning (holder's pid inside)
/// DIR/.tmp-v00000043-*    a publish in progress or abandoned by a crash (removed at next start)
/// DIR/.deleting-v*-*      a version being deleted by retention (removed at next start)
/// ```
///
/// The store is model-agnostic: the caller's writer fills a folder with files; the store
/// makes it durable, inventories it and publishes it atomically.
///
/// Typical use by a training daemon:
/// ```swift
/// let store = try CheckpointStore(directory: checkpointDirectory,
///                                 options: CheckpointStoreOptions(keepVersions: 5), logger: logger)
/// // Start: resume from the newest version that verifies; its offsets are the source of truth.
/// if let loaded = try store.loadLatestVerified() {
///     defer { loaded.lease.release() }
///     try model.read(from: loaded.folder)
///     for offset in loaded.manifest.offsets { seek(offset.topic, offset.partition, offset.nextOffset) }
///     if !loaded.rejected.isEmpty { /* alert: the newest version was corrupt */ }
/// }
/// // Each cadence: take a consistent snapshot on the training thread, publish it in the background.
/// let snapshot = model.snapshot()
/// let result = try await store.publishInBackground(metadata: snapshot.metadata) { folder in
///     try snapshot.write(into: folder)
/// }
/// ```
public final class CheckpointStore: Sendable {
    /// Name of the pointer file.
    public static let latestFileName = "LATEST"
    /// Name of the marker that pins a version.
    public static let pinMarkerName = "PINNED"
    /// Name of the per-version lock file readers hold a shared `flock` on.
    public static let readLockName = ".reading"
    static let temporaryPrefix = ".tmp-"
    static let deletingPrefix = ".deleting-"

    /// The checkpoint directory.
    public let directory: URL
    public let options: CheckpointStoreOptions
    let logger: Logger
    let path: String
    /// Symbolic links resolved, for lease registry keys shared by every store on this directory.
    let canonicalPath: String
    /// Serializes this process's publishes and prunes before the cross-process lock.
    let operationLock = Mutex<Void>(())
    private let publishQueue = DispatchQueue(label: "hsnn.checkpoint.publish", qos: .utility)

    /// Opens (and with `create`, creates) a checkpoint directory, then removes folders left by
    /// publishes or deletions a crash interrupted (when no other process is publishing).
    /// - Parameters:
    ///   - directory: the checkpoint directory `DIR`.
    ///   - options: modes, retention and limits.
    ///   - logger: receives one line per publish, rejection and deletion (`checkpoint.*` metadata).
    ///   - create: create `DIR` (mode ``CheckpointStoreOptions/folderMode``) when missing.
    /// - Throws: ``CheckpointError`` when the directory is missing (and `create` is false), not a
    ///   folder, cannot be created, or the options are invalid.
    public init(directory: URL, options: CheckpointStoreOptions = .init(), logger: Logger, create: Bool = true) throws {
        guard options.keepVersions >= 1 else {
            throw CheckpointError.invalid("keepVersions is \(options.keepVersions)", remedy: "Keep at least one version")
        }
        guard options.fileMode <= 0o7777, options.folderMode <= 0o7777 else {
            throw CheckpointError.invalid("file or folder mode out of range", remedy: "Give permission bits such as 0o640 and 0o750")
        }
        self.directory = directory.standardizedFileURL
        self.options = options
        self.logger = logger
        var path = self.directory.path
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        self.path = path
        var st = stat()
        if stat(path, &st) == 0 {   // follows a symbolic link to the directory
            guard (st.st_mode & S_IFMT) == S_IFDIR else {
                throw CheckpointError(.fileSystem, "\(path) is not a folder", remedy: "Point the checkpoint directory at a folder", path: path)
            }
        } else if errno == ENOENT, create {
            try FileSystem.makeDirectories(path, mode: options.folderMode)
        } else if errno == ENOENT {
            throw CheckpointError(.notFound, "checkpoint directory \(path) does not exist",
                                  remedy: "Check the path (checkpoint.dir / HSNN_CHECKPOINT_DIR)", path: path)
        } else {
            throw CheckpointError.lastOS("open the checkpoint directory", path: path)
        }
        self.canonicalPath = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        if let lock = DirectoryLock.tryAcquire(directory: path, fileMode: options.fileMode) {
            removeLeftovers()
            withExtendedLifetime(lock) {}
        }
    }

    func folderPath(_ version: CheckpointVersion) -> String { path + "/" + version.folderName }

    /// The version folder's URL (whether or not it exists).
    public func folder(of version: CheckpointVersion) -> URL {
        URL(fileURLWithPath: folderPath(version), isDirectory: true)
    }

    /// Every folder named like a version, ascending (complete or not: see ``verify(_:)``).
    /// - Throws: ``CheckpointError`` when the directory cannot be listed.
    public func versions() throws -> [CheckpointVersion] {
        try FileSystem.list(path).compactMap { CheckpointVersion(folderName: $0) }.filter {
            (try? FileSystem.kind(folderPath($0))) == .directory
        }.sorted()
    }

    /// The version `LATEST` names; `nil` when there is no `LATEST` file.
    /// - Throws: ``CheckpointError`` when `LATEST` exists but cannot be read or is malformed.
    public func latestVersion() throws -> CheckpointVersion? {
        let latestPath = path + "/" + Self.latestFileName
        guard FileSystem.exists(latestPath) else { return nil }
        let data = try FileSystem.readSmallFile(latestPath, limit: 64, what: "LATEST pointer")
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard let version = CheckpointVersion(folderName: text) else {
            throw CheckpointError(.corruptVersion, "\(latestPath) does not name a version folder (it holds '\(text.prefix(40))')",
                                  remedy: "Write the folder name of a good version followed by a newline into it, e.g. `echo v00000042 > LATEST`",
                                  path: latestPath)
        }
        return version
    }

    /// Removes temporary and half-deleted folders and `LATEST.tmp`; the caller holds the directory lock.
    func removeLeftovers() {
        guard let names = try? FileSystem.list(path) else { return }
        for name in names where name.hasPrefix(Self.temporaryPrefix) || name.hasPrefix(Self.deletingPrefix) || name == Self.latestFileName + ".tmp" {
            do {
                try FileSystem.removeTree(path + "/" + name)
                logger.info("removed leftover of an interrupted publish or deletion", metadata: ["checkpoint.path": "\(path)/\(name)"])
            } catch {
                logger.warning("cannot remove leftover", metadata: ["checkpoint.path": "\(path)/\(name)", "error": "\(error)"])
            }
        }
    }

    private func inject(_ step: PublishStep) throws {
        try options.faultInjector?.handler(step)
    }

    /// Publishes a new version: the writer fills a fresh folder, the store makes it durable,
    /// writes its manifest and moves `LATEST` to it, then applies retention when enabled.
    ///
    /// Protocol (each step durable before the next): create `DIR/.tmp-vNNNNNNNN-<random>`
    /// (``CheckpointStoreOptions/folderMode``); run `writer`; set the modes of every file and
    /// folder, fsync every file while computing sizes and SHA-256s; write and fsync
    /// `manifest.json`; fsync the folder; rename it to `vNNNNNNNN`; fsync `DIR`; write and fsync
    /// `LATEST.tmp`; rename it over `LATEST`; fsync `DIR`. A crash at any point leaves the previous
    /// `LATEST` loadable; a folder is only ever named `vNNNNNNNN` once complete.
    ///
    /// On failure the temporary folder (or the renamed folder, if `LATEST` was not yet replaced)
    /// is removed and `LATEST` is untouched. The call blocks: run it on a background thread
    /// while training continues, or use ``publishInBackground(metadata:writer:)``.
    ///
    /// - Parameters:
    ///   - metadata: configuration, counters, offsets, index statistics and metrics to record.
    ///   - writer: writes the state's files into the folder it is given (regular files and
    ///     subfolders only; not `manifest.json`, `PINNED` or `.reading`). It need not fsync.
    /// - Returns: the new version, its manifest, bytes written and the time each phase took.
    /// - Throws: ``CheckpointError``: ``CheckpointError/Code/diskFull``, ``CheckpointError/Code/permissionDenied``,
    ///   ``CheckpointError/Code/ioError`` and others, saying what happened and that `LATEST` is unchanged;
    ///   ``CheckpointError/Code/busy`` when another process holds the directory.
    public func publish(metadata: CheckpointMetadata, writer: (URL) throws -> Void) throws -> CheckpointPublishResult {
        try CheckpointManifest.validate(metadata: metadata, limits: options.limits, source: "checkpoint metadata")
        let clock = ContinuousClock()
        var result = try operationLock.withLock { _ in
            let lock = try DirectoryLock.acquire(directory: path, fileMode: options.fileMode, timeout: options.lockTimeout)
            defer { withExtendedLifetime(lock) {} }
            removeLeftovers()
            return try publishLocked(metadata: metadata, writer: writer, clock: clock)
        }
        if options.pruneAfterPublish {
            do {
                result.prune = try prune()
            } catch let error as CheckpointError {
                result.pruneError = error
                logger.warning("retention after publish failed", metadata: ["checkpoint.version": "\(result.version)", "error": "\(error)"])
            } catch {
                logger.warning("retention after publish failed", metadata: ["checkpoint.version": "\(result.version)", "error": "\(error)"])
            }
        }
        return result
    }

    /// ``publish(metadata:writer:)`` on the store's own serial dispatch queue, off the Swift
    /// concurrency pool, so blocking fsyncs never starve other tasks.
    /// - Throws: what ``publish(metadata:writer:)`` throws.
    public func publishInBackground(metadata: CheckpointMetadata, writer: @escaping @Sendable (URL) throws -> Void) async throws -> CheckpointPublishResult {
        try await withCheckedThrowingContinuation { continuation in
            publishQueue.async {
                continuation.resume(with: Result { try self.publish(metadata: metadata, writer: writer) })
            }
        }
    }

    private func publishLocked(metadata: CheckpointMetadata, writer: (URL) throws -> Void, clock: ContinuousClock) throws -> CheckpointPublishResult {
        let start = clock.now
        let parent = try? latestVersion()
        let existing = try versions()
        let version = try CheckpointVersion(Swift.max(existing.last?.number ?? 0, parent?.number ?? 0) + 1)
        let temporaryName = "\(Self.temporaryPrefix)\(version.folderName)-\(FileSystem.randomSuffix())"
        let temporaryPath = path + "/" + temporaryName
        let finalPath = folderPath(version)
        let latestPath = path + "/" + Self.latestFileName
        let latestTemporaryPath = latestPath + ".tmp"
        var renamedIntoPlace = false
        var latestReplaced = false
        var writeDuration = Duration.zero, syncDuration = Duration.zero
        do {
            try FileSystem.makeDirectory(temporaryPath, mode: options.folderMode)
            try inject(.createdTemporaryFolder)

            let writeStart = clock.now
            do { try writer(URL(fileURLWithPath: temporaryPath, isDirectory: true)) } catch {
                throw CheckpointError.writerFailed(error, folder: temporaryPath)
            }
            writeDuration = clock.now - writeStart
            try inject(.wroteFiles)

            let syncStart = clock.now
            let inventory = try inventory(of: temporaryPath)
            let files = try syncAndHash(root: temporaryPath, files: inventory.files)
            for folder in inventory.folders.reversed() { try FileSystem.sync(temporaryPath + "/" + folder, directory: true) }
            syncDuration = clock.now - syncStart
            try inject(.syncedFiles)

            let manifest = CheckpointManifest(version: version, parentVersion: parent,
                                              createdAtUnixMilliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded()),
                                              metadata: metadata, files: files)
            try manifest.validate(limits: options.limits, source: "manifest of \(version.folderName)")
            let manifestData = try manifest.encoded()
            try FileSystem.writeFile(temporaryPath + "/" + CheckpointManifest.fileName, manifestData, mode: options.fileMode, sync: true, exclusive: true)
            // Empty: the folder fsync below makes its existence durable.
            try FileSystem.writeFile(temporaryPath + "/" + Self.readLockName, Data(), mode: options.fileMode, sync: false, exclusive: true)
            try inject(.wroteManifest)

            try FileSystem.sync(temporaryPath, directory: true)
            try inject(.syncedTemporaryFolder)

            guard !FileSystem.exists(finalPath) else {
                throw CheckpointError(.fileSystem, "\(finalPath) appeared while publishing", remedy: "Another writer is using this directory; stop it", path: finalPath)
            }
            try FileSystem.renameItem(temporaryPath, finalPath)
            renamedIntoPlace = true
            try inject(.renamedVersionFolder)

            try FileSystem.sync(path, directory: true)
            try inject(.syncedDirectory)

            try FileSystem.writeFile(latestTemporaryPath, Data((version.folderName + "\n").utf8), mode: options.fileMode, sync: true)
            try inject(.wroteLatestTemporary)

            try FileSystem.renameItem(latestTemporaryPath, latestPath)
            latestReplaced = true
            try inject(.renamedLatest)

            try FileSystem.sync(path, directory: true)
            try inject(.syncedDirectoryAfterLatest)

            let duration = clock.now - start
            let bytes = files.reduce(Int64(manifestData.count)) { $0 + $1.size }
            logger.info("published checkpoint", metadata: [
                "checkpoint.version": "\(version)", "checkpoint.parent": "\(parent.map(\.folderName) ?? "none")",
                "checkpoint.bytes": "\(bytes)", "checkpoint.files": "\(files.count + 1)",
                "checkpoint.duration_ms": "\(Int(duration.inSeconds * 1000))",
            ])
            return CheckpointPublishResult(version: version, folder: URL(fileURLWithPath: finalPath, isDirectory: true), manifest: manifest,
                                           bytesWritten: bytes, fileCount: files.count + 1, duration: duration,
                                           writeDuration: writeDuration, syncDuration: syncDuration,
                                           commitDuration: duration - writeDuration - syncDuration, prune: nil, pruneError: nil)
        } catch let crash as SimulatedCrash {
            throw crash
        } catch {
            var failure = CheckpointError.wrapping(error, context: "publishing into \(path) failed", path: temporaryPath,
                                                   otherwise: "Check the checkpoint directory and the log")
            if latestReplaced {
                // LATEST already names the new version; only its durability is in doubt.
                failure = CheckpointError(failure.code, "\(version.folderName) was published but \(failure.message)",
                                          remedy: "\(failure.remedy). LATEST names \(version.folderName) but may revert to the previous version after a power loss",
                                          path: failure.path, osErrorCode: failure.osErrorCode)
            } else {
                try? FileSystem.removeTree(temporaryPath)
                try? FileSystem.removeTree(latestTemporaryPath)
                if renamedIntoPlace {
                    let doomed = "\(path)/\(Self.deletingPrefix)\(version.folderName)-\(FileSystem.randomSuffix())"
                    if (try? FileSystem.renameItem(finalPath, doomed)) != nil { try? FileSystem.removeTree(doomed) }
                }
                try? FileSystem.sync(path, directory: true)
                failure = failure.abandoningPublish(of: version, latest: parent)
            }
            logger.warning("checkpoint publish failed", metadata: [
                "checkpoint.version": "\(version)", "error.code": "\(failure.code)", "error": "\(failure)",
            ])
            throw failure
        }
    }

    /// Regular files (relative paths) and subfolders (parents first) the writer produced.
    private func inventory(of root: String) throws -> (files: [String], folders: [String]) {
        var files: [String] = [], folders: [String] = []
        func walk(_ relative: String) throws {
            let absolute = relative.isEmpty ? root : root + "/" + relative
            for name in try FileSystem.list(absolute) {
                let child = relative.isEmpty ? name : relative + "/" + name
                if relative.isEmpty, CheckpointManifest.reservedNames.contains(name) {
                    throw CheckpointError.invalid("the state writer created '\(name)', a name reserved for the store",
                                                  remedy: "Rename that file in the model's state writer")
                }
                if let problem = CheckpointManifest.pathProblem(child, limits: options.limits) {
                    throw CheckpointError.invalid("the state writer created '\(child)', whose path \(problem)", remedy: "Rename that file in the model's state writer")
                }
                switch try FileSystem.kind(absolute + "/" + name) {
                case .regular:
                    files.append(child)
                case .directory:
                    try FileSystem.setMode(absolute + "/" + name, options.folderMode, directory: true)
                    folders.append(child)
                    try walk(child)
                default:
                    throw CheckpointError.invalid("the state writer created '\(child)', which is not a regular file or folder",
                                                  remedy: "Checkpoints hold regular files and folders only (no links, pipes or sockets)")
                }
            }
        }
        try walk("")
        guard files.count <= options.limits.maximumFiles else {
            throw CheckpointError.invalid("the state writer created \(files.count) files, more than the limit of \(options.limits.maximumFiles)",
                                          remedy: "Write fewer, larger files or raise the manifest limits")
        }
        return (files, folders)
    }

    /// Sets modes, then fsyncs every file on a helper thread while the other threads checksum
    /// them (largest first, one file per worker at a time), so the device writes while the CPUs
    /// hash; the data is still in the page cache, so hashing does not wait for the disk.
    private func syncAndHash(root: String, files: [String]) throws -> [CheckpointFileEntry] {
        for file in files { try FileSystem.setMode(root + "/" + file, options.fileMode, directory: false) }
        let paths = files.map { root + "/" + $0 }
        let syncFailure = Locked<CheckpointError?>(nil)
        let group = DispatchGroup()
        let clock = ContinuousClock()
        let start = clock.now
        let syncEnd = Locked<Duration>(.zero)
        let syncPaths = paths
        DispatchQueue.global(qos: .utility).async(group: group) {
            defer { syncEnd.withLock { $0 = clock.now - start } }
            for path in syncPaths {
                do { try FileSystem.sync(path, directory: false) } catch {
                    syncFailure.withLock { $0 = $0 ?? (error as? CheckpointError) ?? CheckpointError.lastOS("fsync", path: path) }
                    return
                }
            }
        }
        let sizes = paths.map { (try? FileSystem.size($0)) ?? 0 }
        let order = paths.indices.sorted { sizes[$0] > sizes[$1] }
        let results = Locked<[Int: Result<(String, Int64), CheckpointError>]>([:])
        let next = Locked<Int>(0)
        let workers = Swift.max(1, Swift.min(order.count, ProcessInfo.processInfo.activeProcessorCount))
        if !order.isEmpty {
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                let hasher = FileHasher()
                while true {
                    let position = next.withLock { value -> Int in
                        defer { value += 1 }
                        return value
                    }
                    guard position < order.count else { return }
                    let index = order[position]
                    let result: Result<(String, Int64), CheckpointError>
                    do { result = .success(try hasher.hash(paths[index])) } catch {
                        result = .failure((error as? CheckpointError) ?? CheckpointError.lastOS("read", path: paths[index]))
                    }
                    results.withLock { $0[index] = result }
                }
            }
        }
        let hashEnd = clock.now - start
        group.wait()
        logger.debug("synced and hashed files", metadata: [
            "checkpoint.files": "\(paths.count)",
            "checkpoint.hash_ms": "\(Int(hashEnd.inSeconds * 1000))", "checkpoint.fsync_ms": "\(Int(syncEnd.withLock { $0 }.inSeconds * 1000))",
        ])
        if let error = syncFailure.withLock({ $0 }) { throw error }
        let hashed = results.withLock { $0 }
        return try files.indices.map { index in
            let (sha256, size) = try hashed[index]!.get()
            return CheckpointFileEntry(path: files[index], size: size, sha256: sha256)
        }
    }
}
