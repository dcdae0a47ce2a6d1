import Crypto
import Foundation
import HSNNCheckpoint
import HSNNMath
import Logging
import Safetensors
import HSNNSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
        var generator = SeededRandom(seed: 42)
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
            publish.append(result.duration.inSeconds)
            writes.append(result.writeDuration.inSeconds)
            syncs.append(result.syncDuration.inSeconds)
            commits.append(result.commitDuration.inSeconds)
            _ = try store.prune(keep: 1)

            let path = work + "/sequential.bin"
            settle()
            let start = clock.now
            try writeSequential(path: path, tensors: tensors, totalBytes: Int(publishBytes))
            sequential.append((clock.now - start).inSeconds)
            try FileSystem.removeTree(path)

            let copyStart = clock.now
            var offset = 0
            for tensor in tensors {
                tensor.withUnsafeBytes { (snapshotBuffer.baseAddress! + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                offset += tensor.count
            }
            copies.append((clock.now - copyStart).inSeconds)

            let hashStart = clock.now
            var digest = SHA256()
            for tensor in tensors { tensor.withUnsafeBytes { digest.update(bufferPointer: $0) } }
            _ = digest.finalize()
            hashes.append((clock.now - hashStart).inSeconds)
            logger.debug("benchmark run", metadata: ["run": "\(run)", "publish_s": "\(publish.last!)", "sequential_s": "\(sequential.last!)"])
        }
        let sequentialMBps = Double(publishBytes) / median(sequential, ifEmpty: 0) / 1e6
        let publishMBps = Double(publishBytes) / median(publish, ifEmpty: 0) / 1e6
        return PublishBenchmarkResult(directory: root, runs: options.runs, publishBytes: publishBytes, sequentialBytes: publishBytes,
                                      sequentialSeconds: sequential, publishSeconds: publish, medianWriteSeconds: median(writes, ifEmpty: 0),
                                      medianSyncSeconds: median(syncs, ifEmpty: 0), medianCommitSeconds: median(commits, ifEmpty: 0),
                                      medianSnapshotCopySeconds: median(copies, ifEmpty: 0), sequentialMBps: sequentialMBps,
                                      publishMBps: publishMBps,
                                      sha256MBpsPerCore: Double(tensors.reduce(0) { $0 + $1.count }) / median(hashes, ifEmpty: 0) / 1e6,
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
