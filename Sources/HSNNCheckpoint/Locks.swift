import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Versions being read by this process, keyed by `<canonical directory>/<version folder>`.
///
/// Retention consults it before trying the cross-process lock, so a reader in the same
/// process is respected even on file systems where `flock` is a no-op.
enum LeaseRegistry {
    private static let counts = Mutex<[String: Int]>([:])

    static func enter(_ key: String) {
        counts.withLock { $0[key, default: 0] += 1 }
    }

    static func leave(_ key: String) {
        counts.withLock {
            let remaining = ($0[key] ?? 1) - 1
            $0[key] = remaining > 0 ? remaining : nil
        }
    }

    static func isLeased(_ key: String) -> Bool {
        counts.withLock { $0[key] != nil }
    }
}

/// Proof that one version is being read: while it is held, retention (in this or any other
/// process on the same host) does not delete the version.
///
/// Mechanism: the holder keeps a shared `flock` on the version's `.reading` file and an
/// entry in an in-process registry. Retention takes an exclusive, non-blocking `flock` on
/// the same file before renaming the folder away for deletion, so it skips any version a
/// reader holds. Releasing (explicitly or by deinit, or by the process exiting) drops both.
public final class CheckpointReadLease: Sendable {
    /// The version held.
    public let version: CheckpointVersion
    /// The version's folder; read its files through this URL while the lease is held.
    public let folder: URL
    private let key: String
    private let lockDescriptor: Mutex<Int32?>

    init(version: CheckpointVersion, folder: URL, key: String, lockDescriptor: Int32) {
        self.version = version
        self.folder = folder
        self.key = key
        self.lockDescriptor = Mutex(lockDescriptor)
    }

    /// Whether the lease also holds the cross-process lock (it does unless the `.reading`
    /// file could not be opened, e.g. a read-only user on a version published before it existed).
    public var isCrossProcess: Bool { lockDescriptor.withLock { ($0 ?? -1) >= 0 } }

    /// Ends the lease; later calls do nothing.
    public func release() {
        let descriptor = lockDescriptor.withLock { held -> Int32? in
            defer { held = nil }
            return held
        }
        guard let descriptor else { return }
        if descriptor >= 0 { close(descriptor) }
        LeaseRegistry.leave(key)
    }

    deinit { release() }
}

/// An exclusive `flock` on `DIR/.publish.lock`, held while publishing, pruning or cleaning
/// temporary folders, so two processes never publish into or prune the same directory at once.
final class DirectoryLock {
    static let fileName = ".publish.lock"
    private let descriptor: Int32

    private init(descriptor: Int32) { self.descriptor = descriptor }

    /// Empties the holder's pid before unlocking, so the file never names a process that no
    /// longer holds it.
    deinit {
        _ = ftruncate(descriptor, 0)
        close(descriptor)
    }

    /// Waits up to `timeout` for the lock.
    /// - Throws: ``CheckpointError`` with code ``CheckpointError/Code/busy`` naming the holder's pid
    ///   when it stays taken, or an OS error when the lock file cannot be opened.
    static func acquire(directory: String, fileMode: UInt16, timeout: Duration) throws -> DirectoryLock {
        let path = directory + "/" + fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, mode_t(fileMode))
        guard fd >= 0 else { throw CheckpointError.lastOS("open the lock file", path: path) }
        _ = fchmod(fd, mode_t(fileMode))
        let deadline = ContinuousClock.now + timeout
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            guard code == EWOULDBLOCK || code == EINTR else {
                close(fd)
                throw CheckpointError.os(code, "lock", path: path)
            }
            if ContinuousClock.now >= deadline {
                var holder = [UInt8](repeating: 0, count: 32)
                let n = pread(fd, &holder, holder.count, 0)
                close(fd)
                let pid = n > 0 ? String(decoding: holder[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
                throw CheckpointError(.busy, "another process (pid \(pid)) is publishing into or pruning \(directory)",
                                      remedy: "Retry when it has finished; two daemons must not share one checkpoint directory", path: directory)
            }
            usleep(20_000)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        return DirectoryLock(descriptor: fd)
    }

    /// The lock if it is free right now and the lock file can be opened, else `nil`.
    static func tryAcquire(directory: String, fileMode: UInt16) -> DirectoryLock? {
        try? acquire(directory: directory, fileMode: fileMode, timeout: .zero)
    }
}
