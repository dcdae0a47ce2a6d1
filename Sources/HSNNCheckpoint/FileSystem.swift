import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The POSIX calls the store needs, each failing with a ``CheckpointError`` that names the
/// path and the OS error. Modes are applied with `fchmod`/`chmod`, never left to the umask.
package enum FileSystem {
    enum Kind { case regular, directory, symbolicLink, other }

    /// The kind of `path` without following a final symbolic link, `nil` when it does not exist.
    static func kind(_ path: String) throws -> Kind? {
        var st = stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw CheckpointError.lastOS("inspect", path: path)
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .regular
        case S_IFDIR: return .directory
        case S_IFLNK: return .symbolicLink
        default: return .other
        }
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Size of a regular file (not following symbolic links).
    static func size(_ path: String) throws -> Int64 {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw CheckpointError.lastOS("inspect", path: path) }
        return Int64(st.st_size)
    }

    /// Creates one folder with exactly `mode`.
    static func makeDirectory(_ path: String, mode: UInt16) throws {
        guard mkdir(path, mode_t(mode)) == 0 else { throw CheckpointError.lastOS("create folder", path: path) }
        guard chmod(path, mode_t(mode)) == 0 else { throw CheckpointError.lastOS("set the mode of", path: path) }
    }

    /// Creates `path` and missing parents; folders it creates get exactly `mode`.
    package static func makeDirectories(_ path: String, mode: UInt16) throws {
        switch try kind(path) {
        case .directory: return
        case nil:
            let parent = (path as NSString).deletingLastPathComponent
            if !parent.isEmpty, parent != path { try makeDirectories(parent, mode: mode) }
            if mkdir(path, mode_t(mode)) != 0 {
                if errno == EEXIST, try kind(path) == .directory { return }
                throw CheckpointError.lastOS("create folder", path: path)
            }
            guard chmod(path, mode_t(mode)) == 0 else { throw CheckpointError.lastOS("set the mode of", path: path) }
        default:
            throw CheckpointError(.fileSystem, "\(path) exists and is not a folder",
                                  remedy: "Point the checkpoint directory at a folder", path: path)
        }
    }

    /// Names in a folder (without `.` and `..`), sorted.
    static func list(_ path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw CheckpointError.lastOS("list", path: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    package static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.lastOS("write", path: path)
            }
            offset += n
        }
    }

    /// Writes a whole file with exactly `mode`, fsyncs it when `sync`, and closes it.
    /// `exclusive` refuses to replace an existing file.
    static func writeFile(_ path: String, _ data: Data, mode: UInt16, sync: Bool, exclusive: Bool = false) throws {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC)
        let fd = open(path, flags, mode_t(mode))
        guard fd >= 0 else { throw CheckpointError.lastOS("create", path: path) }
        defer { close(fd) }
        guard fchmod(fd, mode_t(mode)) == 0 else { throw CheckpointError.lastOS("set the mode of", path: path) }
        try data.withUnsafeBytes { try writeAll(fd, $0, path: path) }
        if sync, fsync(fd) != 0 { throw CheckpointError.lastOS("fsync", path: path) }
    }

    /// Opens the regular file at `path` for reading without following a symbolic link and
    /// returns its descriptor (the caller closes it) and status; anything else is refused as a
    /// corrupt version with `remedy`.
    static func openRegularFile(_ path: String, remedy: String) throws -> (fd: Int32, status: stat) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { throw CheckpointError.lastOS("open", path: path) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let error = CheckpointError.lastOS("inspect", path: path)
            close(fd)
            throw error
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw CheckpointError(.corruptVersion, "\(path) is not a regular file", remedy: remedy, path: path)
        }
        return (fd, st)
    }

    /// Reads a small file whole, refusing (before reading) one larger than `limit` bytes.
    /// Symbolic links are not followed.
    static func readSmallFile(_ path: String, limit: Int, what: String) throws -> Data {
        let (fd, st) = try openRegularFile(path, remedy: "Remove the object; a checkpoint holds regular files only")
        defer { close(fd) }
        guard st.st_size <= limit else {
            throw CheckpointError.malformedManifest(path, "the \(what) has \(st.st_size) bytes, more than the \(limit)-byte limit")
        }
        let size = Int(st.st_size)
        var data = Data(count: size)
        try data.withUnsafeMutableBytes { buffer in
            var done = 0
            while done < size {
                let n = read(fd, buffer.baseAddress! + done, size - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw CheckpointError.lastOS("read", path: path)
                }
                if n == 0 { break }
                done += n
            }
            guard done == size else {
                throw CheckpointError(.corruptVersion, "\(path) shrank while being read", remedy: "Retry; if it persists the file system is unstable", path: path)
            }
        }
        return data
    }

    /// fsyncs a file or folder by path (folders make renames and creations inside them durable).
    static func sync(_ path: String, directory: Bool) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC | (directory ? O_DIRECTORY : 0))
        guard fd >= 0 else { throw CheckpointError.lastOS("open", path: path) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw CheckpointError.lastOS("fsync", path: path) }
    }

    /// Sets exactly `mode` on an existing file or folder (without following a final link).
    static func setMode(_ path: String, _ mode: UInt16, directory: Bool) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (directory ? O_DIRECTORY : 0))
        guard fd >= 0 else { throw CheckpointError.lastOS("open", path: path) }
        defer { close(fd) }
        guard fchmod(fd, mode_t(mode)) == 0 else { throw CheckpointError.lastOS("set the mode of", path: path) }
    }

    static func renameItem(_ from: String, _ to: String) throws {
        guard rename(from, to) == 0 else { throw CheckpointError.lastOS("rename \(from) to", path: to) }
    }

    /// Removes a file or a whole folder tree; a missing path is not an error.
    package static func removeTree(_ path: String) throws {
        guard let kind = try kind(path) else { return }
        if kind == .directory {
            for name in try list(path) { try removeTree(path + "/" + name) }
            guard rmdir(path) == 0 || errno == ENOENT else { throw CheckpointError.lastOS("remove folder", path: path) }
        } else {
            guard unlink(path) == 0 || errno == ENOENT else { throw CheckpointError.lastOS("remove", path: path) }
        }
    }

    /// Random lowercase hex for unique temporary names.
    package static func randomSuffix() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }
}

/// Streams files through SHA-256 with one reusable buffer.
final class FileHasher {
    private let buffer: UnsafeMutableRawBufferPointer

    init(bufferBytes: Int = 4 << 20) {
        buffer = .allocate(byteCount: bufferBytes, alignment: 4096)
    }

    deinit { buffer.deallocate() }

    /// SHA-256 (lowercase hex) and byte count of the regular file at `path`; symbolic links
    /// are refused.
    func hash(_ path: String) throws -> (sha256: String, size: Int64) {
        let (fd, _) = try FileSystem.openRegularFile(path, remedy: "A checkpoint holds regular files only")
        defer { close(fd) }
        #if os(Linux)
        _ = posix_fadvise(fd, 0, 0, Int32(POSIX_FADV_SEQUENTIAL))
        #endif
        var hasher = SHA256()
        var total: Int64 = 0
        while true {
            let n = read(fd, buffer.baseAddress!, buffer.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.lastOS("read", path: path)
            }
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            total += Int64(n)
        }
        let digest = hasher.finalize()
        return (digest.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined(), total)
    }
}
