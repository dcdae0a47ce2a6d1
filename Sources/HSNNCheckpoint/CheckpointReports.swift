import Foundation

/// A result of an operations command (`list`, `show`, `verify`, `diff`, `prune`, `pin`): data that
/// scripts read as JSON and the CLI renders as text.
public protocol CheckpointReport: Encodable, Sendable {}

extension CheckpointReport {
    /// Pretty-printed JSON with sorted keys and a final newline.
    /// - Throws: `EncodingError` (not expected: non-finite numbers are written as strings).
    public func renderJSON() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(self), as: UTF8.self) + "\n"
    }
}

/// One row of `list`.
public struct CheckpointListEntry: Sendable, Codable {
    public var version: CheckpointVersion
    public var folder: String
    /// `ok` or `corrupt` (size check, or SHA-256 when the listing verified checksums).
    public var status: String
    /// Whether `LATEST` names this version.
    public var latest: Bool
    public var pinned: Bool
    /// Newer than `LATEST`: its publish was interrupted before `LATEST` moved; never loaded.
    public var unpublished: Bool
    public var parentVersion: CheckpointVersion?
    public var createdAt: String?
    public var createdAtUnixMilliseconds: Int64?
    /// The `events_trained` counter.
    public var eventsTrained: Int64?
    public var offsets: [CheckpointPartitionOffset]
    /// Offsets per topic in one line (`hsnn.events[0]=120 [1]=98`).
    public var offsetsSummary: String
    /// Bytes of every file in the folder.
    public var sizeBytes: Int64
    /// Why the version is corrupt.
    public var problems: [String]

    enum CodingKeys: String, CodingKey {
        case version, folder, status, latest, pinned, unpublished, offsets, problems
        case parentVersion = "parent_version"
        case createdAt = "created_at"
        case createdAtUnixMilliseconds = "created_at_unix_ms"
        case eventsTrained = "events_trained"
        case offsetsSummary = "offsets_summary"
        case sizeBytes = "size_bytes"
    }

    /// `ok LATEST pinned` and the like.
    public var statusText: String {
        ([status] + (latest ? ["LATEST"] : []) + (pinned ? ["pinned"] : []) + (unpublished ? ["unpublished"] : [])).joined(separator: " ")
    }
}

/// The result of `list`: every version folder, newest first.
public struct CheckpointListing: CheckpointReport {
    public var directory: String
    public var latest: CheckpointVersion?
    /// Whether statuses come from SHA-256s (otherwise from sizes only).
    public var checksumsVerified: Bool
    public var versions: [CheckpointListEntry]

    enum CodingKeys: String, CodingKey {
        case directory, latest, versions
        case checksumsVerified = "checksums_verified"
    }
}

/// The result of `show`: the list row plus the whole manifest.
public struct CheckpointDetails: CheckpointReport {
    public var entry: CheckpointListEntry
    /// The manifest (configuration, counters, offsets, index statistics, metrics, files), if valid.
    public var manifest: CheckpointManifest?
}

/// The result of `verify`.
public struct CheckpointVerifyReport: CheckpointReport {
    public var directory: String
    public var results: [CheckpointVerification]
    /// True when every verified version is intact: the CLI exits 0, else 1.
    public var ok: Bool { results.allSatisfy(\.ok) }

    enum CodingKeys: String, CodingKey { case directory, results, ok }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(directory, forKey: .directory)
        try container.encode(results, forKey: .results)
        try container.encode(ok, forKey: .ok)
    }
}

/// A change of one configuration or index statistics leaf.
public struct ValueChange: Sendable, Hashable, Codable {
    /// Dotted path (`model.embedding_dim`, `layers[2]`).
    public var path: String
    /// The value in A; `nil` when absent there.
    public var a: ManifestJSON?
    /// The value in B; `nil` when absent there.
    public var b: ManifestJSON?
}

/// A change of one counter.
public struct CounterChange: Sendable, Hashable, Codable {
    public var name: String
    public var a: CheckpointCounter?
    public var b: CheckpointCounter?
    /// b - a when present in both.
    public var delta: Double?
}

/// A change of one partition's next offset.
public struct OffsetChange: Sendable, Hashable, Codable {
    public var topic: String
    public var partition: Int32
    public var a: Int64?
    public var b: Int64?
    /// b - a when present in both: events consumed between the versions.
    public var delta: Int64?
}

/// A file that differs between two versions.
public struct FileChange: Sendable, Hashable, Codable {
    public var path: String
    public var sizeA: Int64?
    public var sizeB: Int64?

    enum CodingKeys: String, CodingKey {
        case path
        case sizeA = "size_a", sizeB = "size_b"
    }
}

/// The result of `diff A B`.
public struct CheckpointDiff: CheckpointReport {
    public var a: CheckpointVersion
    public var b: CheckpointVersion
    public var configuration: [ValueChange]
    public var counters: [CounterChange]
    public var offsets: [OffsetChange]
    public var indexStatistics: [ValueChange]
    /// Files whose content differs or that exist on one side only.
    public var files: [FileChange]
    public var unchangedFiles: Int
    /// Every tensor present under the same name in a `.safetensors` file of both versions.
    public var tensors: [TensorComparison]
    /// `file:tensor` present only in A.
    public var tensorsOnlyInA: [String]
    /// `file:tensor` present only in B.
    public var tensorsOnlyInB: [String]

    enum CodingKeys: String, CodingKey {
        case a, b, configuration, counters, offsets, files, tensors
        case indexStatistics = "index_statistics"
        case unchangedFiles = "unchanged_files"
        case tensorsOnlyInA = "tensors_only_in_a"
        case tensorsOnlyInB = "tensors_only_in_b"
    }
}

extension CheckpointPruneReport: CheckpointReport {}

/// The result of `pin` and `unpin`.
public struct CheckpointPinReport: CheckpointReport {
    public var version: CheckpointVersion
    /// The state after the command.
    public var pinned: Bool
    /// False when the version already was in that state.
    public var changed: Bool
}
