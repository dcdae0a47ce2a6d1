import Foundation
import HSNNCheckpoint
import Safetensors
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension TemporaryDirectory {
    /// The checkpoint directory inside this folder (not created: the store creates it).
    package var checkpoints: URL { url.appendingPathComponent("checkpoints") }
}

/// A checkpoint store over `directory` that logs to memory and prunes nothing unless asked.
package func makeStore(_ directory: URL, options: CheckpointStoreOptions = CheckpointStoreOptions(pruneAfterPublish: false)) throws -> CheckpointStore {
    try CheckpointStore(directory: directory, options: options, logger: makeLogger().0)
}

/// The tensor values a sample state of `seed` holds.
package func sampleWeights(seed: Int) -> [Float] { (0..<32).map { Float($0) * 0.25 + Float(seed) } }

/// A model-like state: two safetensors files, a binary side file in a subfolder and a JSON file.
package func sampleWriter(seed: Int) -> @Sendable (URL) throws -> Void {
    { folder in
        var weights = SafetensorsWriter(metadata: ["seed": "\(seed)"])
        try weights.add(name: "encoder.weight", shape: [4, 8], floats: sampleWeights(seed: seed))
        try weights.add(name: "item_ids", shape: [3], int64s: [10, 20, Int64(30 + seed)])
        try weights.write(toPath: folder.path + "/weights.safetensors")
        var optimizer = SafetensorsWriter()
        try optimizer.add(name: "adam.m", shape: [4, 8], floats: [Float](repeating: Float(seed) / 10, count: 32))
        try optimizer.write(toPath: folder.path + "/optimizer.safetensors")
        try FileManager.default.createDirectory(atPath: folder.path + "/joiner", withIntermediateDirectories: true)
        try Data([UInt8](repeating: UInt8(seed & 0xFF), count: 100)).write(to: folder.appendingPathComponent("joiner/pending.bin"))
        try Data("{\"items\":[1,2,3]}".utf8).write(to: folder.appendingPathComponent("catalog.json"))
    }
}

/// The manifest metadata of a sample state that has trained `events` events.
package func sampleMetadata(events: Int64) -> CheckpointMetadata {
    CheckpointMetadata(
        configuration: ["model": ["embedding_dim": 8, "layers": [64, 32]], "index": ["levels": 2, "branching": 16]],
        counters: [CheckpointManifest.eventsTrainedCounter: .int(events), "loss": .double(0.5 / Double(events + 1))],
        offsets: [CheckpointPartitionOffset(topic: "hsnn.events", partition: 0, nextOffset: events),
                  CheckpointPartitionOffset(topic: "hsnn.events", partition: 1, nextOffset: events / 2),
                  CheckpointPartitionOffset(topic: "hsnn.items", partition: 0, nextOffset: 7)],
        indexStatistics: ["items_live": .int(events), "empty_nodes": 1],
        metrics: ["events_per_second": 1234.5])
}

/// Publishes the sample state of `seed` (`seed * 100` events trained).
@discardableResult
package func publishSample(_ store: CheckpointStore, seed: Int) throws -> CheckpointPublishResult {
    try store.publish(metadata: sampleMetadata(events: Int64(seed * 100)), writer: sampleWriter(seed: seed))
}

/// The content of a checkpoint directory's LATEST file.
package func readLatest(_ directory: URL) -> String? {
    try? String(contentsOf: directory.appendingPathComponent("LATEST"), encoding: .utf8)
}

/// Permission bits of a path.
package func mode(_ path: String) -> UInt16 {
    var st = stat()
    guard lstat(path, &st) == 0 else { return 0xFFFF }
    return UInt16(st.st_mode & 0o7777)
}

/// Flips one bit of a file in place.
package func flipByte(_ path: String, at offset: Int) throws {
    var data = try Data(contentsOf: URL(fileURLWithPath: path))
    data[offset] ^= 0x01
    try data.write(to: URL(fileURLWithPath: path))
}

/// Cuts a file to `size` bytes.
package func truncate(_ path: String, to size: Int) throws {
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    try handle.truncate(atOffset: UInt64(size))
    try handle.close()
}

/// A store over `directory.checkpoints` holding three sample versions: v00000001 pinned,
/// v00000002 corrupt (a flipped byte in catalog.json, optimizer.safetensors cut to 20 bytes),
/// v00000003 the latest.
package func makeStoreWithPinnedCorruptAndLatest(_ directory: TemporaryDirectory) throws -> CheckpointStore {
    let store = try makeStore(directory.checkpoints)
    for seed in 1...3 { try publishSample(store, seed: seed) }
    try store.pin(CheckpointVersion(1))
    try flipByte(directory.checkpoints.path + "/v00000002/catalog.json", at: 1)
    try truncate(directory.checkpoints.path + "/v00000002/optimizer.safetensors", to: 20)
    return store
}
