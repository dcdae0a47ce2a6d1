import Foundation
import HSNNCheckpoint
import InMemoryLogging
import Logging
import Safetensors
import Synchronization
import Testing
import HSNNSupport
import HSNNTestSupport

/// Steps up to which `LATEST` still names the previous version.
private let stepsBeforeLatestMoves: [PublishStep] = PublishStep.allCases.filter {
    PublishStep.allCases.firstIndex(of: $0)! < PublishStep.allCases.firstIndex(of: .renamedLatest)!
}

@Suite("Publish and load")
struct PublishLoadTests {
    @Test("a published version loads back with its manifest, offsets and tensors")
    func roundTrip() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        let first = try publishSample(store, seed: 1)
        #expect(first.version.folderName == "v00000001")
        #expect(readLatest(directory.checkpoints) == "v00000001\n")
        #expect(first.manifest.parentVersion == nil)
        #expect(first.fileCount == 5)
        #expect(first.bytesWritten == first.manifest.totalFileBytes + Int64(try first.manifest.encoded().count))
        #expect(first.duration >= first.writeDuration + first.syncDuration)
        #expect(first.manifest.files.map(\.path) == ["catalog.json", "joiner/pending.bin", "optimizer.safetensors", "weights.safetensors"])

        let second = try publishSample(store, seed: 2)
        #expect(second.version.number == 2)
        #expect(second.manifest.parentVersion?.number == 1)
        #expect(readLatest(directory.checkpoints) == "v00000002\n")

        let reopened = try makeStore(directory.checkpoints)
        let loaded = try #require(try reopened.loadLatestVerified())
        defer { loaded.lease.release() }
        #expect(loaded.version.number == 2)
        #expect(loaded.rejected.isEmpty)
        #expect(!loaded.fellBack)
        #expect(loaded.manifest == second.manifest)
        #expect(loaded.manifest.nextOffset(topic: "hsnn.events", partition: 0) == 200)
        #expect(loaded.manifest.nextOffset(topic: "hsnn.items", partition: 0) == 7)
        #expect(loaded.manifest.counters[CheckpointManifest.eventsTrainedCounter] == .int(200))
        let weights = try SafetensorsFile(path: loaded.folder.path + "/weights.safetensors")
        #expect(try weights.floats("encoder.weight") == sampleWeights(seed: 2))
        #expect(try weights.int64s("item_ids") == [10, 20, 32])

        let older = try reopened.load(CheckpointVersion(1))
        defer { older.lease.release() }
        #expect(try SafetensorsFile(path: older.folder.path + "/weights.safetensors").floats("encoder.weight") == sampleWeights(seed: 1))
    }

    @Test("files rewritten, renamed or deleted by the writer are checksummed as finally written")
    func writerRewritesFiles() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        let result = try store.publish(metadata: sampleMetadata(events: 1)) { folder in
            let path = folder.path + "/rewritten.bin"
            try Data(repeating: 1, count: 1 << 20).write(to: URL(fileURLWithPath: path))
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            try handle.seek(toOffset: 4096)
            try handle.write(contentsOf: Data(repeating: 2, count: 16))   // same size, new content
            try handle.close()
            try Data(repeating: 3, count: 1000).write(to: folder.appendingPathComponent("draft.bin"))
            try FileManager.default.moveItem(atPath: folder.path + "/draft.bin", toPath: folder.path + "/final.bin")
            try Data(repeating: 4, count: 10).write(to: folder.appendingPathComponent("scratch.bin"))
            try FileManager.default.removeItem(atPath: folder.path + "/scratch.bin")
            try FileManager.default.createDirectory(atPath: folder.path + "/sub/deeper", withIntermediateDirectories: true)
            try Data(repeating: 5, count: 100).write(to: folder.appendingPathComponent("sub/deeper/leaf.bin"))
        }
        #expect(result.manifest.files.map(\.path) == ["final.bin", "rewritten.bin", "sub/deeper/leaf.bin"])
        let report = try store.verify()
        #expect(report.ok, "\(report.problems)")
    }

    @Test("publishing from a background task returns the same result")
    func background() async throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        let result = try await store.publishInBackground(metadata: sampleMetadata(events: 5), writer: sampleWriter(seed: 5))
        #expect(result.version.number == 1)
        #expect(try store.verify().ok)
    }

    @Test("an empty directory has nothing to load")
    func emptyDirectory() throws {
        let directory = try TemporaryDirectory()
        #expect(try makeStore(directory.checkpoints).loadLatestVerified() == nil)
    }

    @Test("LATEST names the previous version until the new one is complete")
    func latestMovesLast() throws {
        let directory = try TemporaryDirectory()
        try publishSample(makeStore(directory.checkpoints), seed: 1)
        let seen = Locked<[PublishStep: String]>([:])
        let latestURL = directory.checkpoints
        var options = CheckpointStoreOptions(pruneAfterPublish: false)
        options.faultInjector = PublishFaultInjector { step in
            let latest = readLatest(latestURL) ?? "missing"
            seen.withLock { $0[step] = latest }
            if step == .wroteManifest {
                // A folder is only ever named vNNNNNNNN once complete.
                #expect(!FileManager.default.fileExists(atPath: latestURL.path + "/v00000002"))
            }
        }
        try publishSample(makeStore(directory.checkpoints, options: options), seed: 2)
        let observed = seen.withLock { $0 }
        #expect(observed.count == PublishStep.allCases.count)
        for step in stepsBeforeLatestMoves { #expect(observed[step] == "v00000001\n", "\(step)") }
        #expect(observed[.renamedLatest] == "v00000002\n")
        #expect(observed[.syncedDirectoryAfterLatest] == "v00000002\n")
    }

    @Test("a crash at any step leaves the previous LATEST loadable and no half version chosen", arguments: PublishStep.allCases)
    func crashAtStep(step: PublishStep) throws {
        let directory = try TemporaryDirectory()
        try publishSample(makeStore(directory.checkpoints), seed: 1)
        var options = CheckpointStoreOptions(pruneAfterPublish: false)
        options.faultInjector = PublishFaultInjector { current in
            if current == step { throw SimulatedCrash(step: current) }
        }
        #expect(throws: SimulatedCrash.self) { try publishSample(makeStore(directory.checkpoints, options: options), seed: 2) }

        // Restart: a new store cleans temporary folders and loads what LATEST names.
        let restarted = try makeStore(directory.checkpoints)
        #expect(!entries(directory.checkpoints).contains { $0.hasPrefix(".tmp-") || $0 == "LATEST.tmp" }, "\(entries(directory.checkpoints))")
        let loaded = try #require(try restarted.loadLatestVerified())
        defer { loaded.lease.release() }
        #expect(loaded.rejected.isEmpty)
        if stepsBeforeLatestMoves.contains(step) {
            #expect(loaded.version.number == 1)
            #expect(try SafetensorsFile(path: loaded.folder.path + "/weights.safetensors").floats("encoder.weight") == sampleWeights(seed: 1))
        } else {
            #expect(loaded.version.number == 2)
            #expect(try SafetensorsFile(path: loaded.folder.path + "/weights.safetensors").floats("encoder.weight") == sampleWeights(seed: 2))
        }
        // Whatever survived is either complete or absent: every version folder verifies.
        for report in try restarted.verifyAll() { #expect(report.ok, "\(report.problems)") }
        // Publishing resumes with a fresh number.
        let next = try publishSample(restarted, seed: 3)
        #expect(next.version.number > loaded.version.number)
        #expect(next.manifest.parentVersion == loaded.version)
    }

    @Test("a failure at any step before LATEST moves cleans up and leaves LATEST untouched", arguments: PublishStep.allCases)
    func failureAtStep(step: PublishStep) throws {
        let directory = try TemporaryDirectory()
        try publishSample(makeStore(directory.checkpoints), seed: 1)
        var options = CheckpointStoreOptions(pruneAfterPublish: false)
        options.faultInjector = PublishFaultInjector { current in
            if current == step { throw POSIXError(.EIO) }
        }
        do {
            try publishSample(makeStore(directory.checkpoints, options: options), seed: 2)
            Issue.record("publish succeeded despite an injected I/O error")
        } catch let error as CheckpointError {
            #expect(error.code == .ioError)
            #expect(error.osErrorCode == EIO)
            if stepsBeforeLatestMoves.contains(step) {
                #expect(error.description.contains("LATEST still names v00000001"), "\(error)")
                #expect(readLatest(directory.checkpoints) == "v00000001\n")
                #expect(entries(directory.checkpoints).filter { $0.hasPrefix("v") } == ["v00000001"])
            } else {
                #expect(error.description.contains("LATEST names v00000002"), "\(error)")
                #expect(readLatest(directory.checkpoints) == "v00000002\n")
            }
            #expect(!entries(directory.checkpoints).contains { $0.hasPrefix(".tmp-") || $0.hasPrefix(".deleting-") || $0 == "LATEST.tmp" })
        }
    }

    @Test("a failing writer is reported, cleaned up and leaves LATEST untouched")
    func writerFailure() throws {
        struct ModelError: Error, CustomStringConvertible { var description: String { "embedding table is being resized" } }
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        try publishSample(store, seed: 1)
        do {
            _ = try store.publish(metadata: sampleMetadata(events: 1)) { folder in
                try Data([1, 2, 3]).write(to: folder.appendingPathComponent("partial.bin"))
                throw ModelError()
            }
            Issue.record("publish succeeded")
        } catch let error as CheckpointError {
            #expect(error.code == .writerFailed)
            #expect(error.description.contains("embedding table is being resized"))
            #expect(error.description.contains("LATEST still names v00000001"))
        }
        #expect(entries(directory.checkpoints).filter { !$0.hasPrefix(".publish") } == ["LATEST", "v00000001"])
    }

    @Test("links, reserved names and non-finite metadata are refused before publishing")
    func refusedWriterOutput() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        #expect(throws: CheckpointError.self) {
            try store.publish(metadata: CheckpointMetadata()) { folder in
                try FileManager.default.createSymbolicLink(atPath: folder.path + "/link", withDestinationPath: "/etc/passwd")
            }
        }
        #expect(throws: CheckpointError.self) {
            try store.publish(metadata: CheckpointMetadata()) { folder in
                try Data().write(to: folder.appendingPathComponent("manifest.json"))
            }
        }
        #expect(throws: CheckpointError.self) {
            try store.publish(metadata: CheckpointMetadata(counters: ["loss": .double(.nan)])) { _ in }
        }
        #expect(try store.versions().isEmpty)
        #expect(readLatest(directory.checkpoints) == nil)
        #expect(!entries(directory.checkpoints).contains { $0.hasPrefix(".tmp-") })
    }

    @Test("a flipped byte in the newest version is detected by verify and load falls back loudly")
    func flippedByte() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        try publishSample(store, seed: 1)
        let newest = try publishSample(store, seed: 2)
        try flipByte(newest.folder.path + "/weights.safetensors", at: 200)

        let report = try store.verify()
        #expect(!report.ok)
        #expect(report.problems == ["'weights.safetensors' does not match its SHA-256 (content corrupted)"])
        #expect(try store.verify(CheckpointVersion(1)).ok)

        let (logger, logs) = makeLogger()
        let restarted = try CheckpointStore(directory: directory.checkpoints, options: CheckpointStoreOptions(pruneAfterPublish: false), logger: logger)
        let loaded = try #require(try restarted.loadLatestVerified())
        defer { loaded.lease.release() }
        #expect(loaded.version.number == 1)
        #expect(loaded.fellBack)
        #expect(loaded.latestPointer?.number == 2)
        #expect(loaded.rejected.map(\.version.number) == [2])
        #expect(loaded.rejected[0].reason.contains("SHA-256"))
        #expect(logs.entries.contains { $0.level == .warning && "\($0.message)".contains("failed verification") })
        #expect(logs.entries.contains { $0.level == .warning && "\($0.message)".contains("loaded an older one") })
    }

    @Test("a truncated file in the newest version is detected by verify and load falls back")
    func truncatedFile() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        try publishSample(store, seed: 1)
        let newest = try publishSample(store, seed: 2)
        try truncate(newest.folder.path + "/optimizer.safetensors", to: 50)
        let report = try store.verify(newest.version)
        #expect(!report.ok)
        #expect(report.problems.first?.contains("truncated") == true)
        #expect(try store.list().versions.first?.status == "corrupt")
        let loaded = try #require(try store.loadLatestVerified())
        defer { loaded.lease.release() }
        #expect(loaded.version.number == 1)
        #expect(loaded.rejected.first?.reason.contains("truncated") == true)
        #expect(throws: CheckpointError.self) { try store.load(newest.version) }
    }

    @Test("a missing file, a missing or foreign manifest and a missing LATEST are handled")
    func damagedLayouts() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        try publishSample(store, seed: 1)
        let second = try publishSample(store, seed: 2)
        // A folder that looks like a version but has no manifest (e.g. a manual partial copy).
        try FileManager.default.createDirectory(atPath: directory.checkpoints.path + "/v00000003", withIntermediateDirectories: false)
        try Data([1]).write(to: directory.checkpoints.appendingPathComponent("v00000003/weights.safetensors"))
        try FileManager.default.removeItem(atPath: second.folder.path + "/joiner/pending.bin")
        // LATEST lost: every version is tried, newest first.
        try FileManager.default.removeItem(atPath: directory.checkpoints.path + "/LATEST")
        let loaded = try #require(try store.loadLatestVerified())
        #expect(loaded.version.number == 1)
        #expect(loaded.rejected.map(\.version.number) == [3, 2])
        #expect(loaded.rejected[0].reason.contains("manifest.json is missing"))
        #expect(loaded.rejected[1].reason.contains("'joiner/pending.bin' is missing"))
        loaded.lease.release()

        // A manifest copied from another version does not describe this folder.
        try FileManager.default.copyItem(atPath: directory.checkpoints.path + "/v00000001", toPath: directory.checkpoints.path + "/v00000009")
        #expect(try store.verify(CheckpointVersion(9)).problems == ["manifest.json describes v00000001, not v00000009"])
    }

    @Test("versions newer than LATEST are not loaded")
    func newerThanLatestIgnored() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        try publishSample(store, seed: 1)
        try publishSample(store, seed: 2)
        try Data("v00000001\n".utf8).write(to: directory.checkpoints.appendingPathComponent("LATEST"))
        let loaded = try #require(try store.loadLatestVerified())
        defer { loaded.lease.release() }
        #expect(loaded.version.number == 1)
        #expect(try store.list().versions.first { $0.version.number == 2 }?.unpublished == true)
        // The next publish does not reuse the number.
        #expect(try publishSample(store, seed: 3).version.number == 3)
    }

    @Test("when no version verifies, loading fails with every reason")
    func nothingLoadable() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        let only = try publishSample(store, seed: 1)
        try flipByte(only.folder.path + "/catalog.json", at: 0)
        do {
            _ = try store.loadLatestVerified()
            Issue.record("a corrupt version was loaded")
        } catch let error as CheckpointError {
            #expect(error.code == .noLoadableVersion)
            #expect(error.description.contains("v00000001: 'catalog.json' does not match its SHA-256"))
        }
    }

    @Test("an oversized manifest on disk is refused without reading it")
    func oversizedManifestOnDisk() throws {
        let directory = try TemporaryDirectory()
        var options = CheckpointStoreOptions(pruneAfterPublish: false)
        options.limits.maximumManifestBytes = 64 << 10
        let store = try makeStore(directory.checkpoints, options: options)
        let version = try publishSample(store, seed: 1)
        let handle = try FileHandle(forWritingTo: version.folder.appendingPathComponent("manifest.json"))
        try handle.truncate(atOffset: 1 << 30)   // sparse: 1 GiB claimed, nothing allocated
        try handle.close()
        let report = try store.verify()
        #expect(report.problems.count == 1)
        #expect(report.problems[0].contains("more than the 65536-byte limit"), "\(report.problems)")
    }

    @Test("stale temporary and half-deleted folders are removed at start")
    func leftoversCleaned() throws {
        let directory = try TemporaryDirectory()
        try publishSample(makeStore(directory.checkpoints), seed: 1)
        for name in [".tmp-v00000002-abc", ".deleting-v00000000-def"] {
            try FileManager.default.createDirectory(atPath: directory.checkpoints.path + "/" + name, withIntermediateDirectories: false)
            try Data([1]).write(to: directory.checkpoints.appendingPathComponent(name + "/x"))
        }
        try Data("v00000002\n".utf8).write(to: directory.checkpoints.appendingPathComponent("LATEST.tmp"))
        _ = try makeStore(directory.checkpoints)
        #expect(entries(directory.checkpoints) == [".publish.lock", "LATEST", "v00000001"])
    }
}
