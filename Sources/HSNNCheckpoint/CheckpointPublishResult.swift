import Foundation
import HSNNSupport

/// What a successful publish produced and what it cost.
public struct CheckpointPublishResult: Sendable {
    public var version: CheckpointVersion
    /// The published version folder.
    public var folder: URL
    public var manifest: CheckpointManifest
    /// Bytes of all files written, including the manifest.
    public var bytesWritten: Int64
    /// Files written, including the manifest.
    public var fileCount: Int
    /// Wall time of the whole publish, from taking the directory lock to `LATEST` being durable
    /// (retention afterwards is not included).
    public var duration: Duration
    /// Time spent in the caller's writer.
    public var writeDuration: Duration
    /// Time spent making the files durable and checksumming them (overlapped).
    public var syncDuration: Duration
    /// Time spent writing the manifest, renaming the folder and replacing `LATEST`.
    public var commitDuration: Duration
    /// Retention applied after the publish, when enabled and successful.
    public var prune: CheckpointPruneReport?
    /// Retention failure after a successful publish (the publish itself stands).
    public var pruneError: CheckpointError?

    /// Publish throughput in bytes per second.
    public var bytesPerSecond: Double {
        let seconds = duration.inSeconds
        return seconds > 0 ? Double(bytesWritten) / seconds : 0
    }
}
