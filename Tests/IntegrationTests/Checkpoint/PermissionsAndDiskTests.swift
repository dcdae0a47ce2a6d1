import Foundation
import HSNNCheckpoint
import Testing
import HSNNTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Whether this process may mount a tmpfs (root in a container that allows it).
private let tmpfsMountPermitted: Bool = {
    guard let directory = try? TemporaryDirectory() else { return false }
    guard let mount = which("mount"), let umount = which("umount"),
          let result = try? runProcess(mount, ["-t", "tmpfs", "-o", "size=64k", "tmpfs", directory.path]), result.status == 0 else { return false }
    _ = try? runProcess(umount, [directory.path])
    return true
}()

@Suite("Permissions and failing disks")
struct PermissionsAndDiskTests {
    @Test("files get 0640 and folders 0750 by default, whatever the umask and the writer chose")
    func defaultModes() throws {
        let directory = try TemporaryDirectory()
        let previous = umask(0o077)
        defer { umask(previous) }
        let store = try makeStore(directory.checkpoints)
        let result = try store.publish(metadata: sampleMetadata(events: 1)) { folder in
            try sampleWriter(seed: 1)(folder)
            _ = FileManager.default.createFile(atPath: folder.path + "/open.bin", contents: Data([1]), attributes: [.posixPermissions: 0o666])
            try FileManager.default.createDirectory(atPath: folder.path + "/wide", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o777])
            _ = FileManager.default.createFile(atPath: folder.path + "/wide/x.bin", contents: Data([2]), attributes: [.posixPermissions: 0o604])
        }
        #expect(mode(directory.checkpoints.path) == 0o750)
        #expect(mode(result.folder.path) == 0o750)
        #expect(mode(result.folder.path + "/wide") == 0o750)
        #expect(mode(result.folder.path + "/joiner") == 0o750)
        for file in result.manifest.files.map(\.path) + ["manifest.json", ".reading"] {
            #expect(mode(result.folder.path + "/" + file) == 0o640, "\(file)")
        }
        #expect(mode(directory.checkpoints.path + "/LATEST") == 0o640)
        try store.pin(result.version)
        #expect(mode(result.folder.path + "/PINNED") == 0o640)
    }

    @Test("configured modes are applied")
    func configuredModes() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints, options: CheckpointStoreOptions(pruneAfterPublish: false, fileMode: 0o600, folderMode: 0o700))
        let result = try publishSample(store, seed: 1)
        #expect(mode(directory.checkpoints.path) == 0o700)
        #expect(mode(result.folder.path) == 0o700)
        #expect(mode(result.folder.path + "/weights.safetensors") == 0o600)
        #expect(mode(result.folder.path + "/manifest.json") == 0o600)
        #expect(mode(directory.checkpoints.path + "/LATEST") == 0o600)
    }

    @Test("a full disk (small tmpfs) fails the publish, cleans up and leaves LATEST loadable",
          .enabled(if: tmpfsMountPermitted, "SKIPPED: this process may not mount a tmpfs (needs root and a container that allows mount); the injected ENOSPC test still covers the error path"))
    func fullTmpfs() throws {
        let directory = try TemporaryDirectory()
        let mountPoint = try mountSmallTmpfs(in: directory)
        defer { _ = try? runProcess(which("umount")!, [mountPoint]) }
        let checkpoints = URL(fileURLWithPath: mountPoint + "/checkpoints")
        let store = try makeStore(checkpoints)
        try publishSample(store, seed: 1)
        do {
            _ = try store.publish(metadata: sampleMetadata(events: 2)) { folder in
                try sampleWriter(seed: 2)(folder)
                try Data(repeating: 7, count: 2 << 20).write(to: folder.appendingPathComponent("embeddings.bin"))
            }
            Issue.record("a 2 MiB publish fit on a 1 MiB disk")
        } catch let error as CheckpointError {
            #expect(error.code == .diskFull)
            #expect(error.osErrorCode == ENOSPC)
            #expect(error.description.contains("full"))
            #expect(error.description.contains("LATEST still names v00000001"))
        }
        #expect(readLatest(checkpoints) == "v00000001\n")
        #expect(!entries(checkpoints).contains { $0.hasPrefix(".tmp-") || $0 == "LATEST.tmp" })
        #expect(try store.versions().map(\.number) == [1])
        let loaded = try #require(try store.loadLatestVerified())
        loaded.lease.release()
        #expect(loaded.version.number == 1)
        // Space was given back: the next publish at the next cadence succeeds.
        #expect(try publishSample(store, seed: 3).version.number == 2)
    }

    @Test("injected ENOSPC and EACCES are classified and explained", arguments: [
        (POSIXErrorCode.ENOSPC, CheckpointError.Code.diskFull, "full"),
        (POSIXErrorCode.EDQUOT, CheckpointError.Code.diskFull, "full"),
        (POSIXErrorCode.EACCES, CheckpointError.Code.permissionDenied, "permission"),
        (POSIXErrorCode.EROFS, CheckpointError.Code.permissionDenied, "permission"),
        (POSIXErrorCode.EIO, CheckpointError.Code.ioError, "I/O error"),
    ])
    func injectedErrors(code: POSIXErrorCode, expected: CheckpointError.Code, phrase: String) throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        try publishSample(store, seed: 1)
        do {
            _ = try store.publish(metadata: sampleMetadata(events: 2)) { folder in
                try sampleWriter(seed: 2)(folder)
                throw POSIXError(code)
            }
            Issue.record("publish succeeded")
        } catch let error as CheckpointError {
            #expect(error.code == expected)
            #expect(error.osErrorCode == code.rawValue)
            #expect(error.description.contains(phrase), "\(error)")
        }
        #expect(readLatest(directory.checkpoints) == "v00000001\n")
        #expect(!entries(directory.checkpoints).contains { $0.hasPrefix(".tmp-") })
    }

    /// A writer that turns the OS error into its own message (the model's writer reports
    /// "cannot write PATH: cannot write PATH: No space left on device" without the errno): the
    /// failure is still a full disk, said once, with the disk's remedy.
    @Test func aFullDiskInAWritersOwnMessageIsAFullDisk() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        try publishSample(store, seed: 1)
        let wording = String(cString: strerror(ENOSPC))
        var written = ""
        do {
            _ = try store.publish(metadata: sampleMetadata(events: 2)) { folder in
                try sampleWriter(seed: 2)(folder)
                let path = folder.appendingPathComponent("weights.safetensors").path
                written = path
                throw FlatWriterError(description: "cannot write \(path): cannot write \(path): \(wording)")
            }
            Issue.record("publish succeeded")
        } catch let error as CheckpointError {
            #expect(error.code == .diskFull)
            #expect(error.osErrorCode == ENOSPC)
            #expect(error.description.contains("cannot write \(written): \(wording). The disk holding the checkpoint directory is full"),
                    "\(error)")
            #expect(error.description.components(separatedBy: written).count == 2, "the path is named once: \(error)")
            #expect(!error.description.contains("state writer"), "\(error)")
        }
        #expect(readLatest(directory.checkpoints) == "v00000001\n")
    }

    /// A writer whose message carries no OS wording at all, on a file system that is full:
    /// classified by the file system's free space.
    @Test(.enabled(if: tmpfsMountPermitted, "SKIPPED: this process may not mount a tmpfs"))
    func aWriterFailureOnAFullFileSystemIsAFullDisk() throws {
        let directory = try TemporaryDirectory()
        let mountPoint = try mountSmallTmpfs(in: directory)
        defer { _ = try? runProcess(which("umount")!, [mountPoint]) }
        let store = try makeStore(URL(fileURLWithPath: mountPoint + "/checkpoints"))
        do {
            _ = try store.publish(metadata: sampleMetadata(events: 1)) { folder in
                // Fill the disk, then fail the way FileManager.createFile does: without a reason.
                let descriptor = open(folder.appendingPathComponent("filler.bin").path, O_WRONLY | O_CREAT, 0o644)
                let chunk = [UInt8](repeating: 1, count: 1 << 16)
                while write(descriptor, chunk, chunk.count) > 0 {}
                close(descriptor)
                throw FlatWriterError(description: "cannot write \(folder.path)/model.json; check that the folder exists and is writable")
            }
            Issue.record("publish succeeded")
        } catch let error as CheckpointError {
            #expect(error.code == .diskFull, "\(error)")
            #expect(error.description.contains("is full"), "\(error)")
        }
    }

    /// The same failure on a disk with room left stays the writer's own.
    @Test func aWriterFailureWithRoomLeftIsTheWriters() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        do {
            _ = try store.publish(metadata: sampleMetadata(events: 1)) { folder in
                throw FlatWriterError(description: "cannot write \(folder.path)/model.json; check that the folder exists and is writable")
            }
            Issue.record("publish succeeded")
        } catch let error as CheckpointError {
            #expect(error.code == .writerFailed, "\(error)")
            #expect(error.description.components(separatedBy: "model.json").count == 2, "\(error)")
        }
    }
}

/// An error that keeps only text, like the model's state writer.
private struct FlatWriterError: Error, CustomStringConvertible {
    var description: String
}

/// Mounts a 1 MiB tmpfs at `<directory>/disk` and returns that path (unmount it when done).
private func mountSmallTmpfs(in directory: TemporaryDirectory) throws -> String {
    let mountPoint = directory.path + "/disk"
    try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: false)
    let mounted = try runProcess(which("mount")!, ["-t", "tmpfs", "-o", "size=1m", "tmpfs", mountPoint])
    try #require(mounted.status == 0, "mount failed: \(mounted.output)")
    return mountPoint
}
