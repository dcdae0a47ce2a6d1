import Foundation
import HSNNCheckpoint
import Testing
import HSNNTestSupport

/// Holds a shared flock on a file from another process, like a separate `hsnn` process
/// reading a version: a shell opens the file as fd 9, util-linux `flock` locks that open file,
/// and the shell becomes `sleep`, the single process holding the lock until terminated.
private final class ForeignReader {
    let process = Process()
    private let pipe = Pipe()

    init(lockFile: String, exclusive: Bool = false) throws {
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec 9<\"$0\" && flock \(exclusive ? "-x" : "-s") 9 && echo locked && exec sleep 60", lockFile]
        process.standardOutput = pipe
        try process.run()
        // Wait until the lock is held.
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
    }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }

    deinit { if process.isRunning { stop() } }
}

@Suite("Retention, leases and pins")
struct RetentionTests {
    @Test("retention keeps the newest N, LATEST, pinned and leased versions (also leased by another process)",
          .enabled(if: which("flock") != nil, "util-linux flock(1) is needed to hold a lock from another process"))
    func keepsWhatItMust() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        for seed in 1...7 { try publishSample(store, seed: seed) }
        // An operator rolled LATEST back to v1.
        try Data("v00000001\n".utf8).write(to: directory.checkpoints.appendingPathComponent("LATEST"))
        #expect(try store.pin(CheckpointVersion(2), reason: "release candidate"))
        #expect(try !store.pin(CheckpointVersion(2)))
        let lease = try store.acquireReadLease(CheckpointVersion(3))
        #expect(lease.isCrossProcess)
        let foreign = try ForeignReader(lockFile: directory.checkpoints.path + "/v00000004/.reading")
        // A damaged version inside the window does not count as one of the N.
        try truncate(directory.checkpoints.path + "/v00000006/weights.safetensors", to: 10)

        let report = try store.prune(keep: 2)
        #expect(report.deleted.map(\.number) == [6])
        #expect(Set(report.kept.map(\.version.number)) == [1, 2, 5, 7])
        #expect(report.kept.first { $0.version.number == 1 }?.reasons == ["LATEST"])
        #expect(report.kept.first { $0.version.number == 2 }?.reasons == ["pinned"])
        #expect(report.kept.first { $0.version.number == 5 }?.reasons == ["newest 2"])
        #expect(report.skipped.map(\.version.number) == [3, 4])
        #expect(report.skipped[0].reason == "being read by this process")
        #expect(report.skipped[1].reason == "being read by another process")
        #expect(try store.versions().map(\.number) == [1, 2, 3, 4, 5, 7])
        #expect(report.failures.isEmpty)

        // Once released and unpinned, they go.
        lease.release()
        foreign.stop()
        #expect(try store.unpin(CheckpointVersion(2)))
        #expect(try !store.unpin(CheckpointVersion(2)))
        let second = try store.prune(keep: 2)
        #expect(second.deleted.map(\.number) == [2, 3, 4])
        #expect(try store.versions().map(\.number) == [1, 5, 7])
        #expect(!entries(directory.checkpoints).contains { $0.hasPrefix(".deleting-") })
    }

    @Test("retention runs after each publish when enabled")
    func automaticRetention() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints, options: CheckpointStoreOptions(keepVersions: 2, pruneAfterPublish: true))
        var last: CheckpointPublishResult?
        for seed in 1...5 { last = try publishSample(store, seed: seed) }
        #expect(try store.versions().map(\.number) == [4, 5])
        #expect(last?.prune?.deleted.map(\.number) == [3])
        #expect(last?.pruneError == nil)
    }

    @Test("a lease on a deleted version fails; a lease taken first keeps the folder readable")
    func leaseLifecycle() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        for seed in 1...3 { try publishSample(store, seed: seed) }
        let held = try store.load(CheckpointVersion(1))
        #expect(try store.prune(keep: 1).deleted.map(\.number) == [2])
        #expect(FileManager.default.fileExists(atPath: held.folder.path + "/weights.safetensors"))
        held.lease.release()
        held.lease.release()   // idempotent
        #expect(try store.prune(keep: 1).deleted.map(\.number) == [1])
        #expect(throws: CheckpointError.self) { try store.acquireReadLease(CheckpointVersion(1)) }
        do { _ = try store.acquireReadLease(CheckpointVersion(1)) } catch let error as CheckpointError {
            #expect(error.code == .notFound)
        }
    }

    @Test("a second process publishing into the directory makes publish fail as busy",
          .enabled(if: which("flock") != nil, "util-linux flock(1) is needed to hold a lock from another process"))
    func busyDirectory() throws {
        let directory = try TemporaryDirectory()
        var options = CheckpointStoreOptions(pruneAfterPublish: false)
        options.lockTimeout = .milliseconds(200)
        let store = try makeStore(directory.checkpoints, options: options)
        try publishSample(store, seed: 1)
        let other = try ForeignReader(lockFile: directory.checkpoints.path + "/.publish.lock", exclusive: true)
        defer { other.stop() }
        do {
            try publishSample(store, seed: 2)
            Issue.record("publish ignored another process's lock")
        } catch let error as CheckpointError {
            #expect(error.code == .busy)
        }
        #expect(readLatest(directory.checkpoints) == "v00000001\n")
    }

    @Test("pinning a missing version fails with a clear error")
    func pinMissing() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        #expect(throws: CheckpointError.self) { try store.pin(CheckpointVersion(5)) }
        #expect(throws: CheckpointError.self) { try store.unpin(CheckpointVersion(5)) }
    }
}
