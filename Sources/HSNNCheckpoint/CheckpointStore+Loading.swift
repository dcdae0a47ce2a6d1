import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The outcome of checking one version folder against its manifest.
public struct CheckpointVerification: Sendable, Codable {
    public var version: CheckpointVersion
    /// The version folder.
    public var folder: String
    /// Whether SHA-256s were computed (`verify`, load) or only sizes compared (`list`, retention).
    public var checksumsVerified: Bool
    /// Everything that makes the version unusable; empty when it is intact.
    public var problems: [String]
    /// Oddities that do not prevent loading (files present but not listed in the manifest).
    public var warnings: [String]
    /// Files compared with the manifest.
    public var filesChecked: Int
    /// Bytes of those files.
    public var bytesChecked: Int64
    /// Whether the version carries a `PINNED` marker.
    public var pinned: Bool
    /// The manifest, when it could be read and validated.
    public var manifest: CheckpointManifest?

    /// True when the manifest is valid and every file matches it.
    public var ok: Bool { problems.isEmpty }

    enum CodingKeys: String, CodingKey {
        case version, folder, ok, problems, warnings, pinned
        case checksumsVerified = "checksums_verified"
        case filesChecked = "files_checked"
        case bytesChecked = "bytes_checked"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        version = try container.decode(CheckpointVersion.self, forKey: .version)
        folder = try container.decode(String.self, forKey: .folder)
        checksumsVerified = try container.decode(Bool.self, forKey: .checksumsVerified)
        problems = try container.decode([String].self, forKey: .problems)
        warnings = try container.decode([String].self, forKey: .warnings)
        filesChecked = try container.decode(Int.self, forKey: .filesChecked)
        bytesChecked = try container.decode(Int64.self, forKey: .bytesChecked)
        pinned = try container.decode(Bool.self, forKey: .pinned)
        manifest = nil
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(version, forKey: .version)
        try container.encode(folder, forKey: .folder)
        try container.encode(ok, forKey: .ok)
        try container.encode(checksumsVerified, forKey: .checksumsVerified)
        try container.encode(problems, forKey: .problems)
        try container.encode(warnings, forKey: .warnings)
        try container.encode(filesChecked, forKey: .filesChecked)
        try container.encode(bytesChecked, forKey: .bytesChecked)
        try container.encode(pinned, forKey: .pinned)
    }

    init(version: CheckpointVersion, folder: String, checksumsVerified: Bool) {
        self.version = version
        self.folder = folder
        self.checksumsVerified = checksumsVerified
        problems = []
        warnings = []
        filesChecked = 0
        bytesChecked = 0
        pinned = false
        manifest = nil
    }
}

/// A version the loader skipped, and why.
public struct CheckpointRejection: Sendable, Hashable, Codable, CustomStringConvertible {
    public var version: CheckpointVersion
    public var reason: String
    public var description: String { "\(version.folderName): \(reason)" }
}

/// A verified version, held by a read lease until released.
public struct LoadedCheckpoint: Sendable {
    public var version: CheckpointVersion
    /// The version folder: read the state's files from here while ``lease`` is held.
    public var folder: URL
    public var manifest: CheckpointManifest
    /// Keeps retention from deleting the version; release it once the state is loaded.
    public var lease: CheckpointReadLease
    /// Versions that were tried first and failed verification (newest first). Non-empty means
    /// the newest version is corrupt and an older one was loaded: alert on it.
    public var rejected: [CheckpointRejection]
    /// The version `LATEST` named, if it was readable.
    public var latestPointer: CheckpointVersion?

    /// Whether the loaded version is not the one `LATEST` names.
    public var fellBack: Bool { version != latestPointer }
}

extension CheckpointStore {
    /// Takes a read lease on a version, so retention in any process leaves it alone until released.
    /// - Throws: ``CheckpointError`` with code ``CheckpointError/Code/notFound`` when the folder does not
    ///   exist or was being deleted.
    public func acquireReadLease(_ version: CheckpointVersion) throws -> CheckpointReadLease {
        let folder = folderPath(version)
        let key = canonicalPath + "/" + version.folderName
        LeaseRegistry.enter(key)
        func notFound(_ detail: String) -> CheckpointError {
            CheckpointError(.notFound, "checkpoint version \(version.folderName) \(detail) in \(path)",
                            remedy: "Run `hsnn checkpoint list \(path)` to see the available versions", path: folder)
        }
        do {
            guard try FileSystem.kind(folder) == .directory else { throw notFound("does not exist") }
            let lockPath = folder + "/" + Self.readLockName
            var fd = open(lockPath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            if fd < 0, errno == ENOENT {
                fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode_t(options.fileMode))
                if fd >= 0 { _ = fchmod(fd, mode_t(options.fileMode)) }
            }
            if fd < 0 {
                guard try FileSystem.kind(folder) == .directory else { throw notFound("does not exist") }
                logger.debug("read lease without cross-process lock", metadata: ["checkpoint.version": "\(version)", "error": "\(String(cString: strerror(errno)))"])
                return CheckpointReadLease(version: version, folder: URL(fileURLWithPath: folder, isDirectory: true), key: key, lockDescriptor: -1)
            }
            // Retention holds the exclusive lock only while it renames the folder away.
            let deadline = ContinuousClock.now + .seconds(10)
            while flock(fd, LOCK_SH | LOCK_NB) != 0 {
                guard errno == EWOULDBLOCK || errno == EINTR, ContinuousClock.now < deadline else {
                    close(fd)
                    throw CheckpointError(.busy, "cannot lock \(lockPath) for reading", remedy: "Retry; retention may be deleting this version", path: lockPath)
                }
                usleep(5_000)
            }
            // If retention renamed the folder away between open and flock, the path no longer leads here.
            var held = stat(), current = stat()
            guard fstat(fd, &held) == 0, stat(lockPath, &current) == 0, held.st_ino == current.st_ino, held.st_dev == current.st_dev else {
                close(fd)
                throw notFound("was deleted by retention")
            }
            return CheckpointReadLease(version: version, folder: URL(fileURLWithPath: folder, isDirectory: true), key: key, lockDescriptor: fd)
        } catch {
            LeaseRegistry.leave(key)
            throw error
        }
    }

    /// Compares a version folder with its manifest: the manifest must be valid and name this
    /// version, every listed file must exist as a regular file of the listed size and, with
    /// `checksums`, SHA-256. Unlisted files are warnings.
    func inspect(_ version: CheckpointVersion, checksums: Bool) -> CheckpointVerification {
        let folder = folderPath(version)
        var report = CheckpointVerification(version: version, folder: folder, checksumsVerified: checksums)
        guard (try? FileSystem.kind(folder)) == .directory else {
            report.problems.append("the version folder is missing")
            return report
        }
        report.pinned = FileSystem.exists(folder + "/" + Self.pinMarkerName)
        let manifestPath = folder + "/" + CheckpointManifest.fileName
        let manifest: CheckpointManifest
        do {
            guard FileSystem.exists(manifestPath) else {
                report.problems.append("manifest.json is missing (incomplete version)")
                return report
            }
            let data = try FileSystem.readSmallFile(manifestPath, limit: options.limits.maximumManifestBytes, what: "manifest")
            manifest = try CheckpointManifest.decode(data, limits: options.limits, source: manifestPath)
        } catch let error as CheckpointError {
            report.problems.append(error.message)
            return report
        } catch {
            report.problems.append("manifest.json cannot be read: \(error)")
            return report
        }
        guard manifest.version == version else {
            report.problems.append("manifest.json describes \(manifest.version.folderName), not \(version.folderName)")
            return report
        }
        report.manifest = manifest
        let hasher = checksums ? FileHasher() : nil
        for file in manifest.files {
            let filePath = folder + "/" + file.path
            // Every parent inside the version must be a real folder, so no link leads outside it.
            var parent = folder
            var parentProblem: String?
            for component in file.path.split(separator: "/").dropLast() {
                parent += "/" + component
                if (try? FileSystem.kind(parent)) != .directory { parentProblem = "'\(file.path)': \(parent) is not a folder"; break }
            }
            if let parentProblem { report.problems.append(parentProblem); continue }
            let kind: FileSystem.Kind?
            do { kind = try FileSystem.kind(filePath) } catch {
                report.problems.append("'\(file.path)' cannot be inspected: \(error)")
                continue
            }
            guard let kind else { report.problems.append("'\(file.path)' is missing"); continue }
            guard kind == .regular else { report.problems.append("'\(file.path)' is not a regular file"); continue }
            let size = (try? FileSystem.size(filePath)) ?? -1
            guard size == file.size else {
                report.problems.append("'\(file.path)' has \(size) bytes, the manifest lists \(file.size) (\(size < file.size ? "truncated" : "grown"))")
                continue
            }
            if let hasher {
                do {
                    let (sha256, hashedSize) = try hasher.hash(filePath)
                    guard hashedSize == file.size, sha256 == file.sha256 else {
                        report.problems.append("'\(file.path)' does not match its SHA-256 (content corrupted)")
                        continue
                    }
                } catch {
                    report.problems.append("'\(file.path)' cannot be read: \(error)")
                    continue
                }
            }
            report.filesChecked += 1
            report.bytesChecked += file.size
        }
        let listed = Set(manifest.files.map(\.path))
        for unlisted in unlistedFiles(in: folder, listed: listed) {
            report.warnings.append("'\(unlisted)' is not listed in the manifest")
        }
        return report
    }

    private func unlistedFiles(in folder: String, listed: Set<String>) -> [String] {
        var found: [String] = []
        func walk(_ relative: String) {
            let absolute = relative.isEmpty ? folder : folder + "/" + relative
            guard let names = try? FileSystem.list(absolute) else { return }
            for name in names {
                let child = relative.isEmpty ? name : relative + "/" + name
                if relative.isEmpty, CheckpointManifest.reservedNames.contains(name) { continue }
                if (try? FileSystem.kind(absolute + "/" + name)) == .directory { walk(child) }
                else if !listed.contains(child) { found.append(child) }
                if found.count >= 100 { return }
            }
        }
        walk("")
        return found
    }

    /// Verifies one version (default: the one `LATEST` names): the manifest, then the size and
    /// SHA-256 of every file. A read lease is held while checking.
    /// - Returns: the report; check ``CheckpointVerification/ok``.
    /// - Throws: ``CheckpointError`` with code ``CheckpointError/Code/notFound`` when there is no such
    ///   version (or no `LATEST` when `version` is `nil`).
    public func verify(_ version: CheckpointVersion? = nil) throws -> CheckpointVerification {
        let version = try version ?? requireLatest()
        let lease = try acquireReadLease(version)
        defer { lease.release() }
        return inspect(version, checksums: true)
    }

    /// Verifies every version folder, oldest first.
    /// - Throws: ``CheckpointError`` when the directory cannot be listed.
    public func verifyAll() throws -> [CheckpointVerification] {
        try versions().map { version in
            guard let lease = try? acquireReadLease(version) else { return inspect(version, checksums: true) }
            defer { lease.release() }
            return inspect(version, checksums: true)
        }
    }

    func requireLatest() throws -> CheckpointVersion {
        guard let latest = try latestVersion() else {
            throw CheckpointError(.notFound, "\(path) has no LATEST pointer",
                                  remedy: "Name a version explicitly, or publish one first; `hsnn checkpoint list \(path)` shows what exists", path: path)
        }
        return latest
    }

    /// Loads the newest version that verifies: the one `LATEST` names, else (when it is missing,
    /// truncated or corrupt) the next older one that verifies. Every rejected version is logged
    /// at warning level and returned in ``LoadedCheckpoint/rejected``. Versions newer than `LATEST`
    /// (published folders whose `LATEST` update a crash prevented) are ignored.
    ///
    /// The result holds a read lease: release it once the state has been read.
    /// - Returns: the verified version, or `nil` when the directory holds no version at all.
    /// - Throws: ``CheckpointError`` with code ``CheckpointError/Code/noLoadableVersion`` when versions
    ///   exist but none verifies (the message lists each and why).
    public func loadLatestVerified() throws -> LoadedCheckpoint? {
        var rejected: [CheckpointRejection] = []
        let all = try versions()
        let latest: CheckpointVersion?
        do { latest = try latestVersion() } catch let error as CheckpointError {
            latest = nil
            logger.warning("LATEST is unreadable; trying every version, newest first", metadata: ["checkpoint.dir": "\(path)", "error": "\(error)"])
        }
        guard !all.isEmpty else {
            if let latest {
                throw CheckpointError(.noLoadableVersion, "LATEST in \(path) names \(latest.folderName), but no version folder exists",
                                      remedy: "Restore the checkpoint directory from a backup, or remove LATEST to start training from scratch", path: path)
            }
            return nil
        }
        var candidates = all
        if let latest {
            let newer = all.filter { $0 > latest }
            if !newer.isEmpty {
                logger.info("ignoring versions newer than LATEST (their publish did not complete)",
                            metadata: ["checkpoint.versions": "\(newer.map(\.folderName).joined(separator: ","))", "checkpoint.latest": "\(latest)"])
            }
            candidates = all.filter { $0 <= latest }
            if !candidates.contains(latest) {
                rejected.append(CheckpointRejection(version: latest, reason: "LATEST names it but its folder does not exist"))
                logger.warning("LATEST names a missing version", metadata: ["checkpoint.version": "\(latest)"])
            }
        } else {
            logger.warning("no readable LATEST; trying every version, newest first", metadata: ["checkpoint.dir": "\(path)"])
        }
        for version in candidates.reversed() {
            let lease: CheckpointReadLease
            do { lease = try acquireReadLease(version) } catch {
                rejected.append(CheckpointRejection(version: version, reason: "\(error)"))
                continue
            }
            let report = inspect(version, checksums: true)
            if report.ok, let manifest = report.manifest {
                if !rejected.isEmpty {
                    logger.warning("newest checkpoint is unusable; loaded an older one", metadata: [
                        "checkpoint.version": "\(version)", "checkpoint.rejected": "\(rejected.map(\.description).joined(separator: "; "))",
                    ])
                } else {
                    logger.info("loaded checkpoint", metadata: ["checkpoint.version": "\(version)", "checkpoint.bytes": "\(report.bytesChecked)"])
                }
                return LoadedCheckpoint(version: version, folder: lease.folder, manifest: manifest, lease: lease, rejected: rejected, latestPointer: latest)
            }
            lease.release()
            let reason = report.problems.joined(separator: "; ")
            rejected.append(CheckpointRejection(version: version, reason: reason))
            logger.warning("checkpoint version failed verification", metadata: ["checkpoint.version": "\(version)", "checkpoint.problems": "\(reason)"])
        }
        throw CheckpointError(.noLoadableVersion,
                              "no version in \(path) verifies: \(rejected.map(\.description).joined(separator: "; "))",
                              remedy: "Restore a version from a backup; or move the directory aside to start training from scratch (offsets will come from Kafka)",
                              path: path)
    }

    /// Loads one given version, verified, holding a read lease.
    /// - Throws: ``CheckpointError`` with code ``CheckpointError/Code/notFound`` when it does not exist,
    ///   ``CheckpointError/Code/corruptVersion`` when it does not verify (the message lists why).
    public func load(_ version: CheckpointVersion) throws -> LoadedCheckpoint {
        let lease = try acquireReadLease(version)
        let report = inspect(version, checksums: true)
        guard report.ok, let manifest = report.manifest else {
            lease.release()
            throw CheckpointError(.corruptVersion, "checkpoint \(version.folderName) in \(path) does not verify: \(report.problems.joined(separator: "; "))",
                                  remedy: "Load another version (`hsnn checkpoint list \(path)`) or restore this one from a backup", path: folderPath(version))
        }
        return LoadedCheckpoint(version: version, folder: lease.folder, manifest: manifest, lease: lease, rejected: [], latestPointer: try? latestVersion())
    }
}

/// Where a model path given on a command line points: a checkpoint directory (meaning the
/// version `LATEST` names) or one version's folder.
public struct CheckpointLocation: Sendable, Hashable {
    /// The checkpoint directory.
    public var directory: URL
    /// The version folder given, or `nil` for "whatever `LATEST` names".
    public var version: CheckpointVersion?

    /// Resolves `path`: a folder named `vNNNNNNNN` holding a `manifest.json` is a version of its
    /// parent directory; any other folder is a checkpoint directory.
    /// - Throws: ``CheckpointError`` with code ``CheckpointError/Code/notFound`` when `path` is not a folder.
    public init(resolving path: String) throws {
        var trimmed = path
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        let url = URL(fileURLWithPath: trimmed).standardizedFileURL
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw CheckpointError(.notFound, "\(path) is not a folder",
                                  remedy: "Give a checkpoint directory (its LATEST version is used) or one version folder such as DIR/v00000042", path: path)
        }
        if let version = CheckpointVersion(folderName: url.lastPathComponent),
           FileManager.default.fileExists(atPath: url.path + "/" + CheckpointManifest.fileName) {
            self.directory = url.deletingLastPathComponent()
            self.version = version
        } else {
            self.directory = url
            self.version = nil
        }
    }
}
