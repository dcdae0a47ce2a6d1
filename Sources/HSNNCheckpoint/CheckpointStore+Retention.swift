import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A version retention kept, and why.
public struct RetainedVersion: Sendable, Hashable, Codable {
    public var version: CheckpointVersion
    /// `LATEST`, `pinned`, `newest N`.
    public var reasons: [String]
}

/// What one application of retention did.
public struct CheckpointPruneReport: Sendable, Codable {
    /// The N of "keep the newest N intact versions".
    public var keepVersions: Int
    /// Versions deleted, oldest first.
    public var deleted: [CheckpointVersion]
    /// Versions kept, with the rule that kept each.
    public var kept: [RetainedVersion]
    /// Versions retention would delete but left alone because they are being read.
    public var skipped: [CheckpointRejection]
    /// Deletions that failed (the version stays; retention retries next time).
    public var failures: [String]

    enum CodingKeys: String, CodingKey {
        case keepVersions = "keep_versions"
        case deleted, kept, skipped, failures
    }
}

extension CheckpointStore {
    /// Applies retention now: keeps the newest `keep` intact versions (manifest valid, every file
    /// of its listed size), the one `LATEST` names, pinned ones and ones being read (a read lease in
    /// any process); deletes every other version folder, including incomplete or damaged ones.
    ///
    /// A version is deleted by taking an exclusive non-blocking `flock` on its `.reading` file
    /// (failing means a reader holds it: skipped), renaming it to `.deleting-…` and removing that.
    /// - Parameter keep: overrides ``CheckpointStoreOptions/keepVersions``.
    /// - Throws: ``CheckpointError`` when `keep` < 1, the directory cannot be listed, or another
    ///   process holds the directory lock longer than ``CheckpointStoreOptions/lockTimeout``.
    public func prune(keep: Int? = nil) throws -> CheckpointPruneReport {
        let keep = keep ?? options.keepVersions
        guard keep >= 1 else { throw CheckpointError.invalid("keep is \(keep)", remedy: "Keep at least one version") }
        return try operationLock.withLock { _ in
            let lock = try DirectoryLock.acquire(directory: path, fileMode: options.fileMode, timeout: options.lockTimeout)
            defer { withExtendedLifetime(lock) {} }
            removeLeftovers()
            let all = try versions()
            let latest = try? latestVersion()
            var reasons: [CheckpointVersion: [String]] = [:]
            var intact: [CheckpointVersion] = []
            for version in all {
                let report = inspect(version, checksums: false)
                if report.ok { intact.append(version) }
                if version == latest { reasons[version, default: []].append("LATEST") }
                if report.pinned { reasons[version, default: []].append("pinned") }
            }
            for version in intact.suffix(keep) { reasons[version, default: []].append("newest \(keep)") }
            var report = CheckpointPruneReport(keepVersions: keep, deleted: [], kept: [], skipped: [], failures: [])
            for version in all {
                if let why = reasons[version] {
                    report.kept.append(RetainedVersion(version: version, reasons: why))
                    continue
                }
                do {
                    if let skippedBecause = try deleteVersion(version) {
                        report.skipped.append(CheckpointRejection(version: version, reason: skippedBecause))
                    } else {
                        report.deleted.append(version)
                    }
                } catch {
                    report.failures.append("\(version.folderName): \(error)")
                    logger.warning("cannot delete checkpoint version", metadata: ["checkpoint.version": "\(version)", "error": "\(error)"])
                }
            }
            if !report.deleted.isEmpty {
                logger.info("retention deleted checkpoint versions", metadata: [
                    "checkpoint.deleted": "\(report.deleted.map(\.folderName).joined(separator: ","))", "checkpoint.keep": "\(keep)",
                ])
            }
            return report
        }
    }

    /// Deletes one version unless it is being read or was pinned meanwhile; returns why it was skipped.
    private func deleteVersion(_ version: CheckpointVersion) throws -> String? {
        let key = canonicalPath + "/" + version.folderName
        if LeaseRegistry.isLeased(key) { return "being read by this process" }
        let folder = folderPath(version)
        let lockPath = folder + "/" + Self.readLockName
        var fd = open(lockPath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        if fd < 0, errno == ENOENT {
            fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode_t(options.fileMode))
        }
        guard fd >= 0 else { throw CheckpointError.lastOS("open", path: lockPath) }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EWOULDBLOCK { return "being read by another process" }
            throw CheckpointError.os(code, "lock", path: lockPath)
        }
        if FileSystem.exists(folder + "/" + Self.pinMarkerName) { return "pinned" }
        if LeaseRegistry.isLeased(key) { return "being read by this process" }
        let doomed = "\(path)/\(Self.deletingPrefix)\(version.folderName)-\(FileSystem.randomSuffix())"
        try FileSystem.renameItem(folder, doomed)
        try FileSystem.sync(path, directory: true)
        try FileSystem.removeTree(doomed)
        return nil
    }

    /// Pins a version: retention never deletes it until unpinned. The marker is a `PINNED` file in
    /// the version folder (created atomically, fsynced) holding the time and the reason.
    /// - Returns: `false` when it was already pinned.
    /// - Throws: ``CheckpointError`` when the version does not exist or the marker cannot be written.
    @discardableResult
    public func pin(_ version: CheckpointVersion, reason: String? = nil) throws -> Bool {
        let lease = try acquireReadLease(version)
        defer { lease.release() }
        let folder = folderPath(version)
        let marker = folder + "/" + Self.pinMarkerName
        if FileSystem.exists(marker) { return false }
        let now = CheckpointManifest.rfc3339(unixMilliseconds: Int64((Date().timeIntervalSince1970 * 1000).rounded()))
        let text = "pinned at \(now)" + (reason.map { ": \($0)" } ?? "") + "\n"
        try FileSystem.writeFile(marker, Data(text.utf8), mode: options.fileMode, sync: true)
        try FileSystem.sync(folder, directory: true)
        logger.info("pinned checkpoint version", metadata: ["checkpoint.version": "\(version)"])
        return true
    }

    /// Removes a version's pin; retention may delete it afterwards.
    /// - Returns: `false` when it was not pinned.
    /// - Throws: ``CheckpointError`` when the version does not exist or the marker cannot be removed.
    @discardableResult
    public func unpin(_ version: CheckpointVersion) throws -> Bool {
        let folder = folderPath(version)
        guard try FileSystem.kind(folder) == .directory else {
            throw CheckpointError(.notFound, "checkpoint version \(version.folderName) does not exist in \(path)",
                                  remedy: "Run `hsnn checkpoint list \(path)` to see the available versions", path: folder)
        }
        let marker = folder + "/" + Self.pinMarkerName
        guard unlink(marker) == 0 else {
            if errno == ENOENT { return false }
            throw CheckpointError.lastOS("remove", path: marker)
        }
        try FileSystem.sync(folder, directory: true)
        logger.info("unpinned checkpoint version", metadata: ["checkpoint.version": "\(version)"])
        return true
    }

    /// Whether a version carries a `PINNED` marker.
    public func isPinned(_ version: CheckpointVersion) -> Bool {
        FileSystem.exists(folderPath(version) + "/" + Self.pinMarkerName)
    }
}
