import Foundation
import HSNNCheckpoint
import Safetensors
import Testing
@testable import hsnn
import HSNNTestSupport

private func bytes<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }

@Suite("hsnn checkpoint: text output")
struct CheckpointTextTests {
    @Test("list prints a table of every version and the problems of corrupt ones")
    func list() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStoreWithPinnedCorruptAndLatest(directory)

        let text = try store.list().renderText()
        #expect(text.contains("VERSION"))
        #expect(text.contains("v00000003"))
        #expect(text.contains("ok LATEST"))
        #expect(text.contains("v00000002: 'optimizer.safetensors' has 20 bytes"))
    }

    @Test("show prints configuration, counters, offsets, index health, metrics and files")
    func show() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        try publishSample(store, seed: 1)
        try publishSample(store, seed: 2)
        let text = try store.show().renderText()
        for expected in ["model.embedding_dim = 8", "index.levels = 2", "events_trained = 200", "hsnn.events[1] = 100",
                         "items_live = 200", "events_per_second = 1234.5", "weights.safetensors", "parent       v00000001"] {
            #expect(text.contains(expected), "missing '\(expected)' in:\n\(text)")
        }
    }

    @Test("verify prints OK lines, and CORRUPT with every problem")
    func verify() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        try publishSample(store, seed: 1)
        try publishSample(store, seed: 2)
        #expect(try store.verifyReport(nil).renderText().contains("v00000002: OK, 4 files"))
        try flipByte(directory.checkpoints.path + "/v00000001/joiner/pending.bin", at: 3)
        let text = try store.verifyReport(nil, all: true).renderText()
        #expect(text.contains("v00000001: CORRUPT"))
        #expect(text.contains("'joiner/pending.bin' does not match its SHA-256"))
    }

    @Test("diff prints configuration and counter changes and the tensor table")
    func diff() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        let a = (0..<1000).map { Float($0) / 100 }
        var metadataA = sampleMetadata(events: 100)
        metadataA.configuration = ["model": ["dim": 8, "lr": 0.01], "removed": true]
        var metadataB = sampleMetadata(events: 250)
        metadataB.configuration = ["model": ["dim": 16, "lr": 0.01], "added": "yes"]
        for (metadata, values) in [(metadataA, a), (metadataB, a.map { $0 + 0.5 })] {
            let frozen = bytes(values)
            _ = try store.publish(metadata: metadata) { folder in
                var writer = SafetensorsWriter()
                try writer.add(name: "w", dtype: .f32, shape: [10, 100], bytes: frozen)
                try writer.write(toPath: folder.path + "/model.safetensors")
            }
        }
        let text = try store.diff(CheckpointVersion(1), CheckpointVersion(2)).renderText()
        #expect(text.contains("model.dim: 8 -> 16"))
        #expect(text.contains("events_trained: 100 -> 250 (+150)"))
        #expect(text.contains("model.safetensors:w"))
    }

    @Test("the pin and prune reports print one line per decision")
    func pinAndPrune() throws {
        let directory = try TemporaryDirectory()
        let store = try makeStore(directory.checkpoints)
        for seed in 1...4 { try publishSample(store, seed: seed) }
        #expect(try store.pinReport(CheckpointVersion(1)).renderText() == "v00000001: pinned\n")
        #expect(try store.pinReport(CheckpointVersion(1)).renderText() == "v00000001: pinned (unchanged)\n")
        let lease = try store.acquireReadLease(CheckpointVersion(2))
        let prune = try store.prune(keep: 1)
        lease.release()
        #expect(prune.deleted.map(\.number) == [3])
        let text = prune.renderText()
        #expect(text.contains("deleted: v00000003"))
        #expect(text.contains("kept v00000001: pinned"))
        #expect(text.contains("kept v00000002: being read by this process"))
        #expect(try store.unpinReport(CheckpointVersion(1)).renderText() == "v00000001: not pinned\n")
    }
}
