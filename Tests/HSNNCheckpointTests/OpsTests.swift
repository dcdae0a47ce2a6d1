import Foundation
import HSNNCheckpoint
import Safetensors
import Testing
import HSNNTestSupport

/// Writes one tensor file per call with the given tensors.
private func tensorWriter(_ tensors: [(name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8])], file: String = "model.safetensors")
    -> @Sendable (URL) throws -> Void {
    let frozen = tensors.map { ($0.name, $0.dtype, $0.shape, $0.bytes) }
    return { folder in
        var writer = SafetensorsWriter()
        for (name, dtype, shape, bytes) in frozen { try writer.add(name: name, dtype: dtype, shape: shape, bytes: bytes) }
        try writer.write(toPath: folder.path + "/" + file)
    }
}

private func bytes<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

private func jsonObject(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
}

@Suite("Operations: list, show, verify, diff, prune, pin")
struct OpsTests {
    @Test("list shows every version newest first with time, events, offsets, size and status")
    func list() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStoreWithPinnedCorruptAndLatest(directory)

        let listing = try store.list()
        #expect(listing.latest?.number == 3)
        #expect(listing.versions.map(\.version.number) == [3, 2, 1])
        #expect(listing.versions.map(\.statusText) == ["ok LATEST", "corrupt", "ok pinned"])
        #expect(listing.versions[0].eventsTrained == 300)
        #expect(listing.versions[0].offsetsSummary == "hsnn.events[0]=300 [1]=150; hsnn.items[0]=7")
        #expect(listing.versions[0].createdAt?.hasSuffix("Z") == true)
        #expect(listing.versions[0].sizeBytes > (try store.show().manifest?.totalFileBytes ?? .max))
        #expect(listing.versions[1].problems.first?.contains("truncated") == true)

        let json = try jsonObject(listing.renderJSON())
        let versions = try #require(json["versions"] as? [[String: Any]])
        #expect(versions.count == 3)
        #expect(versions[0]["status"] as? String == "ok")
        #expect(versions[0]["latest"] as? Bool == true)
        #expect(versions[0]["events_trained"] as? Int == 300)
        #expect(versions[2]["pinned"] as? Bool == true)

        // With checksums the flipped byte alone is caught too.
        try FileManager.default.removeItem(atPath: directory.checkpoints.path + "/v00000002/optimizer.safetensors")
        try publishSample(store, seed: 9)
        try flipByte(directory.checkpoints.path + "/v00000004/catalog.json", at: 1)
        #expect(try store.list().versions[0].status == "ok")
        #expect(try store.list(verifyChecksums: true).versions[0].status == "corrupt")
    }

    @Test("show adds configuration, counters, offsets and index health")
    func show() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        try publishSample(store, seed: 1)
        try publishSample(store, seed: 2)
        let details = try store.show()
        #expect(details.entry.version.number == 2)
        #expect(details.manifest?.parentVersion?.number == 1)
        let json = try jsonObject(details.renderJSON())
        let manifest = try #require(json["manifest"] as? [String: Any])
        #expect((manifest["configuration"] as? [String: Any])?["model"] != nil)
        #expect(try store.show(CheckpointVersion(1)).entry.version.number == 1)
        #expect(throws: CheckpointError.self) { try store.show(CheckpointVersion(7)) }
    }

    @Test("verify reports every version and whether all are intact")
    func verifyReport() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        try publishSample(store, seed: 1)
        try publishSample(store, seed: 2)
        let good = try store.verifyReport(nil)
        #expect(good.ok)
        #expect(good.results.map(\.filesChecked) == [4])
        try flipByte(directory.checkpoints.path + "/v00000001/joiner/pending.bin", at: 3)
        try Data([0]).write(to: directory.checkpoints.appendingPathComponent("v00000002/stray.bin"))
        let all = try store.verifyReport(nil, all: true)
        #expect(!all.ok)
        #expect(all.results.map(\.ok) == [false, true])
        #expect(all.results[1].warnings == ["'stray.bin' is not listed in the manifest"])
        #expect(all.results[0].problems.contains { $0.contains("'joiner/pending.bin' does not match its SHA-256") })
        let json = try jsonObject(all.renderJSON())
        #expect(json["ok"] as? Bool == false)
        #expect((json["results"] as? [[String: Any]])?.first?["ok"] as? Bool == false)
    }

    @Test("diff reports configuration, counter and offset changes and per-tensor statistics")
    func diff() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        let n = 1000
        let a = (0..<n).map { Float($0) / 100 }
        let b = a.map { $0 + 0.5 }
        let half: [UInt16] = [0x3C00, 0xC000, 0x3800, 0x7C00]   // 1, -2, 0.5, +inf
        var metadataA = sampleMetadata(events: 100)
        metadataA.configuration = ["model": ["dim": 8, "lr": 0.01], "removed": true]
        var metadataB = sampleMetadata(events: 250)
        metadataB.configuration = ["model": ["dim": 16, "lr": 0.01], "added": "yes"]
        _ = try store.publish(metadata: metadataA, writer: tensorWriter([
            ("w", .f32, [10, 100], bytes(a)), ("same", .i32, [3], bytes([Int32(1), 2, 3])),
            ("grow", .f32, [2], bytes([Float(1), 2])), ("gone", .u8, [1], [9]), ("h", .f16, [4], bytes(half)),
        ]))
        _ = try store.publish(metadata: metadataB, writer: tensorWriter([
            ("w", .f32, [10, 100], bytes(b)), ("same", .i32, [3], bytes([Int32(1), 2, 3])),
            ("grow", .f32, [3], bytes([Float(1), 2, 3])), ("new", .u8, [1], [9]), ("h", .f16, [4], bytes(half)),
        ]))
        let diff = try store.diff(CheckpointVersion(1), CheckpointVersion(2))
        #expect(diff.configuration.map(\.path) == ["added", "model.dim", "removed"])
        #expect(diff.configuration[1].a == 8 && diff.configuration[1].b == 16)
        #expect(diff.configuration[0].a == nil)
        #expect(diff.counters.first { $0.name == "events_trained" }?.delta == 150)
        #expect(diff.offsets.first { $0.topic == "hsnn.events" && $0.partition == 0 }?.delta == 150)
        #expect(diff.offsets.contains { $0.topic == "hsnn.items" } == false)
        #expect(diff.indexStatistics.map(\.path) == ["items_live"])
        #expect(diff.files.map(\.path) == ["model.safetensors"])

        let w = try #require(diff.tensors.first { $0.name == "w" })
        #expect(w.shapeA == [10, 100])
        let meanA = a.reduce(0.0) { $0 + Double($1) } / Double(n)
        let stdA = (a.reduce(0.0) { $0 + (Double($1) - meanA) * (Double($1) - meanA) } / Double(n)).squareRoot()
        #expect(abs(w.a!.mean! - meanA) < 1e-9)
        #expect(abs(w.a!.std! - stdA) < 1e-9)
        #expect(abs(w.b!.mean! - (meanA + 0.5)) < 1e-6)
        #expect(abs(w.maxAbsDiff! - 0.5) < 1e-6)
        #expect(abs(w.l2Diff! - 0.5 * Double(n).squareRoot()) < 1e-4)
        let same = try #require(diff.tensors.first { $0.name == "same" })
        #expect(same.maxAbsDiff == 0 && same.l2Diff == 0 && same.a?.mean == 2)
        let grow = try #require(diff.tensors.first { $0.name == "grow" })
        #expect(grow.maxAbsDiff == nil && grow.note != nil && grow.b?.mean == 2)
        let h = try #require(diff.tensors.first { $0.name == "h" })
        #expect(h.a?.nonFinite == 1 && h.a?.min == -2 && h.a?.max == 1 && abs(h.a!.mean! - (-0.5 / 3)) < 1e-12)
        #expect(diff.tensorsOnlyInA == ["model.safetensors:gone"])
        #expect(diff.tensorsOnlyInB == ["model.safetensors:new"])

        let json = try jsonObject(diff.renderJSON())
        #expect((json["tensors"] as? [[String: Any]])?.count == 4)
    }

    @Test("diff of identical files reads them once and reports zero differences")
    func diffIdentical() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        try publishSample(store, seed: 1)
        try publishSample(store, seed: 1)
        let diff = try store.diff(CheckpointVersion(1), CheckpointVersion(2))
        #expect(diff.files.isEmpty)
        #expect(diff.unchangedFiles == 4)
        #expect(diff.tensors.count == 3)
        #expect(diff.tensors.allSatisfy { $0.maxAbsDiff == 0 && $0.a == $0.b })
        #expect(diff.configuration.isEmpty && diff.counters.isEmpty)
    }

    @Test("a model path resolves to a directory or one version")
    func location() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        let published = try publishSample(store, seed: 1)
        let fromDirectory = try CheckpointLocation(resolving: directory.checkpoints.path + "/")
        #expect(fromDirectory.version == nil)
        #expect(fromDirectory.directory.path == directory.checkpoints.path)
        let fromVersion = try CheckpointLocation(resolving: published.folder.path)
        #expect(fromVersion.version?.number == 1)
        #expect(fromVersion.directory.standardizedFileURL.path == directory.checkpoints.path)
        #expect(throws: CheckpointError.self) { try CheckpointLocation(resolving: directory.path + "/nope") }
    }

    @Test("the pin report and the prune report say what changed")
    func pinAndPruneReports() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        for seed in 1...3 { try publishSample(store, seed: seed) }
        let pinned = try store.pinReport(CheckpointVersion(1))
        #expect(pinned.version.number == 1 && pinned.pinned && pinned.changed)
        let again = try store.pinReport(CheckpointVersion(1))
        #expect(again.pinned && !again.changed)
        let prune = try store.prune(keep: 1)
        #expect(prune.deleted.map(\.number) == [2])
        #expect(try jsonObject(prune.renderJSON())["keep_versions"] as? Int == 1)
        let unpinned = try store.unpinReport(CheckpointVersion(1))
        #expect(!unpinned.pinned && unpinned.changed)
    }
}
