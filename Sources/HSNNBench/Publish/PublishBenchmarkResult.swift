import Foundation

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
public struct PublishBenchmarkResult: Sendable, Codable {
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
}
