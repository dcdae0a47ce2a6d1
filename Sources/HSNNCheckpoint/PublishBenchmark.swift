import Crypto
import Foundation
import Logging
import Safetensors
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Parameters of ``PublishBenchmark/run(_:logger:)``.
public struct PublishBenchmarkOptions: Sendable {
    /// A folder on the disk to measure (normally the checkpoint disk); the benchmark works in a
    /// fresh subfolder of it and removes that at the end.
    public var directory: URL
    /// Tensor bytes per checkpoint (default 256 MiB).
    public var totalBytes: Int
    /// Safetensors files per checkpoint (default 4).
    public var files: Int
    /// `F32` tensors per file (default 4).
    public var tensorsPerFile: Int
    /// Measurements of each kind; medians are reported (default 5).
    public var runs: Int

    public init(directory: URL, totalBytes: Int = 256 << 20, files: Int = 4, tensorsPerFile: Int = 4, runs: Int = 5) {
        self.directory = directory
        self.totalBytes = totalBytes
        self.files = files
        self.tensorsPerFile = tensorsPerFile
        self.runs = runs
    }
}

/// What ``PublishBenchmark/run(_:logger:)`` measured; speeds in MB/s (10^6 bytes per second).
public struct PublishBenchmarkResult: CheckpointReport, Codable {
    public var directory: String
    public var runs: Int
    /// Bytes a publish wrote (tensors, safetensors headers, manifest).
    public var publishBytes: Int64
    /// Bytes the sequential baseline wrote (the same amount).
    public var sequentialBytes: Int64
    /// Every baseline run: write and fsync one file, seconds.
    public var sequentialSeconds: [Double]
    /// Every publish run, seconds from lock to durable `LATEST`.
    public var publishSeconds: [Double]
    /// Median time a publish spent in the writer, syncing and hashing, and committing.
    public var medianWriteSeconds: Double
    public var medianSyncSeconds: Double
    public var medianCommitSeconds: Double
    /// Median time to copy the tensors in memory: the training pause of a snapshot that copies
    /// the state before publishing it in the background.
    public var medianSnapshotCopySeconds: Double
    public var sequentialMBps: Double
    public var publishMBps: Double
    /// SHA-256 speed of one core over the tensors in memory: with a disk faster than this
    /// times the free cores, checksumming rather than the disk bounds the publish.
    public var sha256MBpsPerCore: Double
    /// publish MB/s ÷ sequential MB/s (the target is >= 0.70).
    public var ratio: Double

    enum CodingKeys: String, CodingKey {
        case directory, runs, ratio
        case publishBytes = "publish_bytes", sequentialBytes = "sequential_bytes"
        case sequentialSeconds = "sequential_seconds", publishSeconds = "publish_seconds"
        case medianWriteSeconds = "median_write_seconds", medianSyncSeconds = "median_sync_seconds"
        case medianCommitSeconds = "median_commit_seconds", medianSnapshotCopySeconds = "median_snapshot_copy_seconds"
        case sequentialMBps = "sequential_mb_per_s", publishMBps = "publish_mb_per_s"
        case sha256MBpsPerCore = "sha256_mb_per_s_per_core"
    }

    public func renderText() -> String {
        func ms(_ s: Double) -> String { String(format: "%.1f ms", s * 1000) }
        var text = "publish benchmark in \(directory), \(runs) runs, medians\n"
        text += "  sequential write+fsync  " + String(format: "%8.1f MB/s  (%.1f MB in ", sequentialMBps, Double(sequentialBytes) / 1e6)
            + ms(median(sequentialSeconds)) + ")\n"
        text += "  checkpoint publish      " + String(format: "%8.1f MB/s  (%.1f MB in ", publishMBps, Double(publishBytes) / 1e6)
            + ms(median(publishSeconds)) + ": write " + ms(medianWriteSeconds) + ", fsync+sha256 " + ms(medianSyncSeconds)
            + ", commit " + ms(medianCommitSeconds) + ")\n"
        text += String(format: "  publish / sequential    %8.1f %%  (target >= 70 %%)\n", ratio * 100)
        text += "  snapshot copy (pause)   \(ms(medianSnapshotCopySeconds)) to copy the tensors in memory\n"
        text += "  sha256, one core        " + String(format: "%8.1f MB/s", sha256MBpsPerCore) + "  (in memory; the CPU cost a publish adds)\n"
        return text
    }
}

/// Measures checkpoint publishing against the raw sequential write speed of the same disk.
public enum PublishBenchmark {
    /// Runs, interleaved, `runs` times each: (1) a full publish of a checkpoint of `totalBytes` of
    /// `F32` tensors in `files` safetensors files; (2) sequential write and fsync of one file as
    /// large as that checkpoint; (3) an in-memory copy of the tensors; (4) SHA-256 of the tensors
    /// in memory on one core. Before each timed write the system's dirty data is flushed (`sync`),
    /// so neither pays for the other. Reports medians.
    /// - Throws: ``CheckpointError`` when the folder cannot be written or a publish fails.
    public static func run(_ options: PublishBenchmarkOptions, logger: Logger) throws -> PublishBenchmarkResult {
        guard options.runs >= 1, options.files >= 1, options.tensorsPerFile >= 1, options.totalBytes >= 4 * options.files * options.tensorsPerFile else {
            throw CheckpointError.invalid("benchmark options out of range", remedy: "Use at least one run, file and tensor, and enough bytes for them")
        }
        var root = options.directory.standardizedFileURL.path
        while root.count > 1, root.hasSuffix("/") { root.removeLast() }
        let work = root + "/hsnn-publish-bench-" + FileSystem.randomSuffix()
        try FileSystem.makeDirectories(work, mode: 0o750)
        defer { try? FileSystem.removeTree(work) }

        // The state: random F32 tensors, split evenly.
        let tensorCount = options.files * options.tensorsPerFile
        let elementsPerTensor = options.totalBytes / 4 / tensorCount
        var generator = SplitMix(seed: 42)
        var tensors: [[UInt8]] = []
        for _ in 0..<tensorCount {
            tensors.append([UInt8](unsafeUninitializedCapacity: elementsPerTensor * 4) { buffer, count in
                let floats = UnsafeMutableRawBufferPointer(buffer).bindMemory(to: Float.self)
                for i in floats.indices { floats[i] = Float(Int32(truncatingIfNeeded: generator.next())) * 0x1p-31 }
                count = elementsPerTensor * 4
            })
        }
        var writers: [SafetensorsWriter] = []
        for file in 0..<options.files {
            var writer = SafetensorsWriter(metadata: ["format": "hsnn-benchmark"])
            for t in 0..<options.tensorsPerFile {
                try writer.add(name: "tensor_\(t)", dtype: .f32, shape: [elementsPerTensor], bytes: tensors[file * options.tensorsPerFile + t])
            }
            writers.append(writer)
        }
        let snapshotBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: elementsPerTensor * 4 * tensorCount, alignment: 64)
        defer { snapshotBuffer.deallocate() }

        var storeOptions = CheckpointStoreOptions(keepVersions: 1, pruneAfterPublish: false)
        storeOptions.lockTimeout = .seconds(5)
        let store = try CheckpointStore(directory: URL(fileURLWithPath: work + "/checkpoints"), options: storeOptions, logger: logger)
        let clock = ContinuousClock()
        var sequential: [Double] = [], publish: [Double] = [], writes: [Double] = [], syncs: [Double] = [], commits: [Double] = [], copies: [Double] = []
        var hashes: [Double] = []
        var publishBytes: Int64 = 0
        let frozenWriters = writers
        for run in 0..<options.runs {
            // Each timed section starts with no dirty data or pending discards from the previous one.
            settle()
            let result = try store.publish(metadata: CheckpointMetadata(counters: ["run": .int(Int64(run))])) { folder in
                for (i, writer) in frozenWriters.enumerated() {
                    try writer.write(toPath: folder.path + "/part-\(i).safetensors")
                }
            }
            publishBytes = result.bytesWritten
            publish.append(result.duration.seconds)
            writes.append(result.writeDuration.seconds)
            syncs.append(result.syncDuration.seconds)
            commits.append(result.commitDuration.seconds)
            _ = try store.prune(keep: 1)

            let path = work + "/sequential.bin"
            settle()
            let start = clock.now
            try writeSequential(path: path, tensors: tensors, totalBytes: Int(publishBytes))
            sequential.append((clock.now - start).seconds)
            try FileSystem.removeTree(path)

            let copyStart = clock.now
            var offset = 0
            for tensor in tensors {
                tensor.withUnsafeBytes { (snapshotBuffer.baseAddress! + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                offset += tensor.count
            }
            copies.append((clock.now - copyStart).seconds)

            let hashStart = clock.now
            var digest = SHA256()
            for tensor in tensors { tensor.withUnsafeBytes { digest.update(bufferPointer: $0) } }
            _ = digest.finalize()
            hashes.append((clock.now - hashStart).seconds)
            logger.debug("benchmark run", metadata: ["run": "\(run)", "publish_s": "\(publish.last!)", "sequential_s": "\(sequential.last!)"])
        }
        let sequentialMBps = Double(publishBytes) / median(sequential) / 1e6
        let publishMBps = Double(publishBytes) / median(publish) / 1e6
        return PublishBenchmarkResult(directory: root, runs: options.runs, publishBytes: publishBytes, sequentialBytes: publishBytes,
                                      sequentialSeconds: sequential, publishSeconds: publish, medianWriteSeconds: median(writes),
                                      medianSyncSeconds: median(syncs), medianCommitSeconds: median(commits),
                                      medianSnapshotCopySeconds: median(copies), sequentialMBps: sequentialMBps,
                                      publishMBps: publishMBps,
                                      sha256MBpsPerCore: Double(tensors.reduce(0) { $0 + $1.count }) / median(hashes) / 1e6,
                                      ratio: publishMBps / sequentialMBps)
    }

    /// Flushes the whole system's dirty data so that one measurement does not pay for the last.
    private static func settle() {
        sync()
        usleep(50_000)
    }

    /// Writes `totalBytes` (cycling through the tensors' bytes) into one new file and fsyncs it.
    private static func writeSequential(path: String, tensors: [[UInt8]], totalBytes: Int) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw CheckpointError.lastOS("create", path: path) }
        defer { close(fd) }
        var remaining = totalBytes
        var index = 0
        while remaining > 0 {
            let tensor = tensors[index % tensors.count]
            let count = min(remaining, tensor.count)
            try tensor.withUnsafeBytes { try FileSystem.writeAll(fd, UnsafeRawBufferPointer(rebasing: $0[0..<count]), path: path) }
            remaining -= count
            index += 1
        }
        guard fsync(fd) == 0 else { throw CheckpointError.lastOS("fsync", path: path) }
    }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// A small deterministic generator for benchmark data.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
