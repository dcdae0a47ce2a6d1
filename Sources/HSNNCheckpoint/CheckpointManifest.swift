import Foundation

/// For one Kafka topic partition, the offset of the next message the checkpointed state
/// has not yet seen: resuming consumes from exactly here.
public struct CheckpointPartitionOffset: Sendable, Hashable, Codable {
    public var topic: String
    public var partition: Int32
    /// The next offset to consume (the last offset reflected by the state, plus one).
    public var nextOffset: Int64

    public init(topic: String, partition: Int32, nextOffset: Int64) {
        self.topic = topic
        self.partition = partition
        self.nextOffset = nextOffset
    }

    enum CodingKeys: String, CodingKey {
        case topic, partition
        case nextOffset = "next_offset"
    }
}

/// One file of a version: its path relative to the version folder, size and SHA-256.
public struct CheckpointFileEntry: Sendable, Hashable, Codable {
    /// Relative path with `/` separators (`weights.safetensors`, `joiner/pending.bin`).
    public var path: String
    /// Size in bytes.
    public var size: Int64
    /// SHA-256 of the content, 64 lowercase hexadecimal digits.
    public var sha256: String

    public init(path: String, size: Int64, sha256: String) {
        self.path = path
        self.size = size
        self.sha256 = sha256
    }
}

/// What the caller describes about the state it publishes; the store adds the version
/// numbers, the creation time and the file inventory to make the ``CheckpointManifest``.
public struct CheckpointMetadata: Sendable, Hashable {
    /// Model and index configuration (free-form JSON object).
    public var configuration: ManifestJSON
    /// Training counters; ``CheckpointManifest/eventsTrainedCounter`` is shown by `list`.
    public var counters: [String: CheckpointCounter]
    /// For every consumed topic partition, the next offset the state reflects.
    public var offsets: [CheckpointPartitionOffset]
    /// Index statistics and health (free-form JSON object).
    public var indexStatistics: ManifestJSON
    /// A snapshot of the daemon's metrics (free-form JSON object).
    public var metrics: ManifestJSON

    public init(configuration: ManifestJSON = .emptyObject, counters: [String: CheckpointCounter] = [:],
                offsets: [CheckpointPartitionOffset] = [], indexStatistics: ManifestJSON = .emptyObject,
                metrics: ManifestJSON = .emptyObject) {
        self.configuration = configuration
        self.counters = counters
        self.offsets = offsets
        self.indexStatistics = indexStatistics
        self.metrics = metrics
    }
}

/// Bounds a manifest must respect to be accepted; anything beyond is treated as corrupt
/// or hostile and refused before memory is allocated for it.
public struct CheckpointManifestLimits: Sendable, Hashable {
    /// Largest `manifest.json` read (default 16 MiB).
    public var maximumManifestBytes: Int
    /// Most files one version may list (default 100,000).
    public var maximumFiles: Int
    /// Largest size one file may claim (default 1 TiB).
    public var maximumFileBytes: Int64
    /// Largest total size of a version (default 4 TiB).
    public var maximumTotalBytes: Int64
    /// Longest relative path in UTF-8 bytes (default 1,024).
    public var maximumPathBytes: Int
    /// Most topic partitions (default 100,000).
    public var maximumOffsets: Int
    /// Most counters (default 10,000).
    public var maximumCounters: Int
    /// Deepest nesting of the free-form JSON sections (default 64).
    public var maximumJSONDepth: Int

    public init(maximumManifestBytes: Int = 16 << 20, maximumFiles: Int = 100_000, maximumFileBytes: Int64 = 1 << 40,
                maximumTotalBytes: Int64 = 4 << 40, maximumPathBytes: Int = 1024, maximumOffsets: Int = 100_000,
                maximumCounters: Int = 10_000, maximumJSONDepth: Int = 64) {
        self.maximumManifestBytes = maximumManifestBytes
        self.maximumFiles = maximumFiles
        self.maximumFileBytes = maximumFileBytes
        self.maximumTotalBytes = maximumTotalBytes
        self.maximumPathBytes = maximumPathBytes
        self.maximumOffsets = maximumOffsets
        self.maximumCounters = maximumCounters
        self.maximumJSONDepth = maximumJSONDepth
    }
}

/// `manifest.json` of a version: what the state is, which events it reflects, and the
/// size and SHA-256 of every file, so a loader can prove the folder is complete and intact.
///
/// JSON keys are snake_case; `created_at` is RFC 3339 in UTC with milliseconds.
public struct CheckpointManifest: Sendable, Hashable, Codable {
    /// The manifest format this code writes and reads.
    public static let currentFormatVersion = 1
    /// The file name inside a version folder.
    public static let fileName = "manifest.json"
    /// The counter `list` reports as "events trained".
    public static let eventsTrainedCounter = "events_trained"

    public var formatVersion: Int
    public var version: CheckpointVersion
    /// The version `LATEST` named when this one was published (`nil` for the first).
    public var parentVersion: CheckpointVersion?
    /// Creation time, RFC 3339 UTC (`2026-11-29T04:02:17.123Z`).
    public var createdAt: String
    /// Creation time in milliseconds since the Unix epoch.
    public var createdAtUnixMilliseconds: Int64
    public var configuration: ManifestJSON
    public var counters: [String: CheckpointCounter]
    public var offsets: [CheckpointPartitionOffset]
    public var indexStatistics: ManifestJSON
    public var metrics: ManifestJSON
    /// Every file of the version except `manifest.json` itself, sorted by path.
    public var files: [CheckpointFileEntry]

    public init(formatVersion: Int = CheckpointManifest.currentFormatVersion, version: CheckpointVersion,
                parentVersion: CheckpointVersion?, createdAtUnixMilliseconds: Int64, metadata: CheckpointMetadata,
                files: [CheckpointFileEntry]) {
        self.formatVersion = formatVersion
        self.version = version
        self.parentVersion = parentVersion
        self.createdAtUnixMilliseconds = createdAtUnixMilliseconds
        self.createdAt = Self.rfc3339(unixMilliseconds: createdAtUnixMilliseconds)
        self.configuration = metadata.configuration
        self.counters = metadata.counters
        self.offsets = metadata.offsets.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
        self.indexStatistics = metadata.indexStatistics
        self.metrics = metadata.metrics
        self.files = files.sorted { $0.path < $1.path }
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version"
        case version
        case parentVersion = "parent_version"
        case createdAt = "created_at"
        case createdAtUnixMilliseconds = "created_at_unix_ms"
        case configuration, counters, offsets
        case indexStatistics = "index_statistics"
        case metrics, files
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(formatVersion, forKey: .formatVersion)
        try container.encode(version, forKey: .version)
        try container.encode(parentVersion, forKey: .parentVersion)   // explicit null for the first version
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(createdAtUnixMilliseconds, forKey: .createdAtUnixMilliseconds)
        try container.encode(configuration, forKey: .configuration)
        try container.encode(counters, forKey: .counters)
        try container.encode(offsets, forKey: .offsets)
        try container.encode(indexStatistics, forKey: .indexStatistics)
        try container.encode(metrics, forKey: .metrics)
        try container.encode(files, forKey: .files)
    }

    /// The caller-described part of the manifest.
    public var metadata: CheckpointMetadata {
        CheckpointMetadata(configuration: configuration, counters: counters, offsets: offsets,
                           indexStatistics: indexStatistics, metrics: metrics)
    }

    /// The next offset to consume for `topic`/`partition`, if the state has one.
    public func nextOffset(topic: String, partition: Int32) -> Int64? {
        offsets.first { $0.topic == topic && $0.partition == partition }?.nextOffset
    }

    /// Total size of the listed files in bytes (without `manifest.json`).
    public var totalFileBytes: Int64 { files.reduce(0) { $0 + $1.size } }

    /// ``eventsTrainedCounter`` as an integer, if present.
    public var eventsTrained: Int64? {
        counters[Self.eventsTrainedCounter].map { $0.intValue ?? Int64($0.doubleValue) }
    }

    /// `2026-11-29T04:02:17.123Z` from milliseconds, exactly (no floating-point rounding of the fraction).
    static func rfc3339(unixMilliseconds: Int64) -> String {
        let seconds = unixMilliseconds >= 0 ? unixMilliseconds / 1000 : (unixMilliseconds - 999) / 1000
        let milliseconds = Int(unixMilliseconds - seconds * 1000)
        var text = Date.ISO8601FormatStyle().format(Date(timeIntervalSince1970: Double(seconds)))
        if text.hasSuffix("Z") { text.removeLast() }
        let fraction = String(milliseconds)
        return text + "." + String(repeating: "0", count: 3 - fraction.count) + fraction + "Z"
    }

    /// The manifest as written to disk: pretty-printed JSON with sorted keys and a final newline.
    /// - Throws: ``CheckpointError`` when a value cannot be represented (a non-finite number).
    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            var data = try encoder.encode(self)
            data.append(0x0A)
            return data
        } catch {
            throw CheckpointError.invalid("the manifest of \(version.folderName) cannot be encoded: \(error)",
                                          remedy: "Every number in the checkpoint metadata must be finite")
        }
    }

    /// Parses and validates manifest bytes; `source` names the file in errors.
    /// - Throws: ``CheckpointError`` with code ``CheckpointError/Code/malformedManifest`` when the bytes
    ///   are too large, not a manifest, or claim absurd values (see ``validate(limits:source:)``).
    public static func decode(_ data: Data, limits: CheckpointManifestLimits = .init(), source: String = fileName) throws -> CheckpointManifest {
        guard data.count <= limits.maximumManifestBytes else {
            throw CheckpointError.malformedManifest(source, "\(data.count) bytes exceed the \(limits.maximumManifestBytes)-byte limit")
        }
        let manifest: CheckpointManifest
        do {
            manifest = try JSONDecoder().decode(CheckpointManifest.self, from: data)
        } catch let error as DecodingError {
            throw CheckpointError.malformedManifest(source, Self.explain(error))
        } catch {
            throw CheckpointError.malformedManifest(source, "not valid JSON (\(error))")
        }
        try manifest.validate(limits: limits, source: source)
        return manifest
    }

    private static func explain(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let text = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.isEmpty ? "top level" : String(text.drop { $0 == "." })
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing field '\(key.stringValue)' at \(path(context))"
        case .typeMismatch(_, let context): return "wrong type at \(path(context)): \(context.debugDescription)"
        case .valueNotFound(_, let context): return "missing value at \(path(context))"
        case .dataCorrupted(let context): return "invalid value at \(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    /// Checks every field for plausibility: known format version, sane times, file paths that
    /// stay inside the version folder, sizes and counts within `limits`, well-formed checksums,
    /// unique paths and partitions, finite numbers.
    /// - Throws: ``CheckpointError`` with code ``CheckpointError/Code/malformedManifest`` naming the first violation.
    public func validate(limits: CheckpointManifestLimits = .init(), source: String = fileName) throws {
        func refuse(_ reason: String) -> CheckpointError { .malformedManifest(source, reason) }
        guard formatVersion >= 1 else { throw refuse("format_version \(formatVersion) is invalid") }
        guard formatVersion <= Self.currentFormatVersion else {
            throw CheckpointError(.malformedManifest,
                                  "manifest \(source) has format_version \(formatVersion), newer than the \(Self.currentFormatVersion) this build reads",
                                  remedy: "Read it with the newer hsnn release that wrote it", path: source)
        }
        if let parentVersion, parentVersion >= version {
            throw refuse("parent_version \(parentVersion.number) is not older than version \(version.number)")
        }
        guard createdAtUnixMilliseconds >= 0, createdAtUnixMilliseconds < 32_503_680_000_000 else {
            throw refuse("created_at_unix_ms \(createdAtUnixMilliseconds) is outside years 1970-2999")
        }
        guard files.count <= limits.maximumFiles else { throw refuse("\(files.count) files exceed the limit of \(limits.maximumFiles)") }
        var paths = Set<String>()
        var total: Int64 = 0
        for file in files {
            if let problem = Self.pathProblem(file.path, limits: limits) { throw refuse("file path '\(file.path.prefix(200))' \(problem)") }
            guard Self.reservedNames.contains(file.path) == false else { throw refuse("file path '\(file.path)' is reserved for the store") }
            guard paths.insert(file.path).inserted else { throw refuse("file '\(file.path)' is listed twice") }
            guard file.size >= 0, file.size <= limits.maximumFileBytes else {
                throw refuse("file '\(file.path)' claims \(file.size) bytes (limit \(limits.maximumFileBytes))")
            }
            total += file.size
            guard total <= limits.maximumTotalBytes else { throw refuse("files claim more than \(limits.maximumTotalBytes) bytes in total") }
            guard file.sha256.utf8.count == 64, file.sha256.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                throw refuse("file '\(file.path)' has a malformed sha256 (64 lowercase hex digits expected)")
            }
        }
        guard offsets.count <= limits.maximumOffsets else { throw refuse("\(offsets.count) partition offsets exceed the limit of \(limits.maximumOffsets)") }
        var partitions = Set<String>()
        for offset in offsets {
            guard !offset.topic.isEmpty, offset.topic.utf8.count <= 249 else { throw refuse("offset topic '\(offset.topic.prefix(100))' is empty or longer than 249 bytes") }
            guard offset.partition >= 0 else { throw refuse("topic \(offset.topic) has negative partition \(offset.partition)") }
            guard offset.nextOffset >= 0 else { throw refuse("\(offset.topic)[\(offset.partition)] has negative next_offset \(offset.nextOffset)") }
            guard partitions.insert("\(offset.partition)@\(offset.topic)").inserted else {
                throw refuse("\(offset.topic)[\(offset.partition)] is listed twice in offsets")
            }
        }
        try Self.validate(metadata: metadata, limits: limits, source: source)
    }

    /// Checks the caller-described part (also done before a publish writes anything).
    static func validate(metadata: CheckpointMetadata, limits: CheckpointManifestLimits, source: String) throws {
        func refuse(_ reason: String) -> CheckpointError { .malformedManifest(source, reason) }
        guard metadata.counters.count <= limits.maximumCounters else {
            throw refuse("\(metadata.counters.count) counters exceed the limit of \(limits.maximumCounters)")
        }
        for (name, value) in metadata.counters {
            guard !name.isEmpty else { throw refuse("a counter has an empty name") }
            if case .double(let d) = value, !d.isFinite { throw refuse("counter '\(name)' is not finite (\(d))") }
        }
        for (section, value) in [("configuration", metadata.configuration), ("index_statistics", metadata.indexStatistics), ("metrics", metadata.metrics)] {
            guard case .object = value else { throw refuse("\(section) must be a JSON object") }
            guard value.depth <= limits.maximumJSONDepth else { throw refuse("\(section) is nested deeper than \(limits.maximumJSONDepth) levels") }
            if let path = value.firstNonFinitePath { throw refuse("\(section)\(path) is not a finite number") }
        }
    }

    /// Names a version folder holds besides the manifest's files.
    static let reservedNames: Set<String> = [fileName, CheckpointStore.pinMarkerName, CheckpointStore.readLockName]

    /// Why `path` is not an acceptable relative path inside a version folder, else `nil`:
    /// it must be relative, use `/` separators, and have no empty, `.` or `..` components,
    /// backslashes or control characters.
    static func pathProblem(_ path: String, limits: CheckpointManifestLimits) -> String? {
        if path.isEmpty { return "is empty" }
        if path.utf8.count > limits.maximumPathBytes { return "is longer than \(limits.maximumPathBytes) bytes" }
        if path.hasPrefix("/") { return "is absolute" }
        if path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "\\" }) {
            return "contains a control character or backslash"
        }
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            if component.isEmpty { return "has an empty component" }
            if component == "." || component == ".." { return "leaves the version folder ('\(component)' component)" }
        }
        return nil
    }
}
