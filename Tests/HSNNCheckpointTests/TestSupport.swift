import Foundation
import HSNNCheckpoint
import InMemoryLogging
import Logging
import Safetensors
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A fresh folder under the system temporary directory, removed when released.
final class TemporaryDirectory {
    let url: URL
    var path: String { url.path }

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("hsnn-ckpt-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    /// The checkpoint directory used by most tests (not created: the store creates it).
    var checkpoints: URL { url.appendingPathComponent("checkpoints") }
}

/// A logger whose entries a test can inspect.
func makeLogger() -> (Logger, InMemoryLogHandler) {
    let handler = InMemoryLogHandler()
    var logger = Logger(label: "test", factory: { _ in handler })
    logger.logLevel = .debug
    return (logger, handler)
}

func makeStore(_ directory: URL, options: CheckpointStoreOptions = CheckpointStoreOptions(pruneAfterPublish: false)) throws -> CheckpointStore {
    try CheckpointStore(directory: directory, options: options, logger: makeLogger().0)
}

/// The tensor values a sample state of `seed` holds.
func sampleWeights(seed: Int) -> [Float] { (0..<32).map { Float($0) * 0.25 + Float(seed) } }

/// A model-like state: two safetensors files, a binary side file in a subfolder and a JSON file.
func sampleWriter(seed: Int) -> @Sendable (URL) throws -> Void {
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

func sampleMetadata(events: Int64) -> CheckpointMetadata {
    CheckpointMetadata(
        configuration: ["model": ["embedding_dim": 8, "layers": [64, 32]], "index": ["levels": 2, "branching": 16]],
        counters: [CheckpointManifest.eventsTrainedCounter: .int(events), "loss": .double(0.5 / Double(events + 1))],
        offsets: [CheckpointPartitionOffset(topic: "hsnn.events", partition: 0, nextOffset: events),
                  CheckpointPartitionOffset(topic: "hsnn.events", partition: 1, nextOffset: events / 2),
                  CheckpointPartitionOffset(topic: "hsnn.items", partition: 0, nextOffset: 7)],
        indexStatistics: ["items_live": .int(events), "empty_nodes": 1],
        metrics: ["events_per_second": 1234.5])
}

@discardableResult
func publishSample(_ store: CheckpointStore, seed: Int) throws -> CheckpointPublishResult {
    try store.publish(metadata: sampleMetadata(events: Int64(seed * 100)), writer: sampleWriter(seed: seed))
}

func readLatest(_ directory: URL) -> String? {
    try? String(contentsOf: directory.appendingPathComponent("LATEST"), encoding: .utf8)
}

func entries(_ directory: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
}

/// Permission bits of a path.
func mode(_ path: String) -> UInt16 {
    var st = stat()
    guard lstat(path, &st) == 0 else { return 0xFFFF }
    return UInt16(st.st_mode & 0o7777)
}

/// Flips one bit of a file in place.
func flipByte(_ path: String, at offset: Int) throws {
    var data = try Data(contentsOf: URL(fileURLWithPath: path))
    data[offset] ^= 0x01
    try data.write(to: URL(fileURLWithPath: path))
}

func truncate(_ path: String, to size: Int) throws {
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    try handle.truncate(atOffset: UInt64(size))
    try handle.close()
}

/// Runs a program, returning its exit status and combined output.
func runProcess(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: output, as: UTF8.self))
}

/// Finds an executable on PATH.
func which(_ name: String) -> String? {
    for folder in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let candidate = "\(folder)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    return nil
}

/// A value shared with `@Sendable` closures (fault injectors) under a lock.
final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}
