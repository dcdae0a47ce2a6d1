import Foundation

/// A result of an operations command, printable for people and as JSON for scripts.
public protocol CheckpointReport: Encodable, Sendable {
    /// Human-readable text (several lines, ending with a newline).
    func renderText() -> String
}

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

    public func renderText() -> String {
        var rows = [["VERSION", "CREATED", "EVENTS", "SIZE", "STATUS", "OFFSETS"]]
        for entry in versions {
            rows.append([entry.version.folderName, entry.createdAt ?? "-", entry.eventsTrained.map { String($0) } ?? "-",
                         formatBytes(entry.sizeBytes), entry.statusText, entry.offsetsSummary.isEmpty ? "-" : entry.offsetsSummary])
        }
        var text = "\(directory): \(versions.count) version\(versions.count == 1 ? "" : "s"), LATEST \(latest?.folderName ?? "missing")"
        text += checksumsVerified ? " (checksums verified)\n" : " (sizes checked; `verify` checks SHA-256)\n"
        text += renderTable(rows)
        for entry in versions where !entry.problems.isEmpty {
            text += "\(entry.version.folderName): \(entry.problems.joined(separator: "; "))\n"
        }
        return text
    }
}

/// The result of `show`: the list row plus the whole manifest.
public struct CheckpointDetails: CheckpointReport {
    public var entry: CheckpointListEntry
    /// The manifest (configuration, counters, offsets, index statistics, metrics, files), if valid.
    public var manifest: CheckpointManifest?

    public func renderText() -> String {
        var text = "version      \(entry.version.folderName) (\(entry.statusText))\n"
        text += "folder       \(entry.folder)\n"
        text += "parent       \(entry.parentVersion?.folderName ?? "none")\n"
        text += "created      \(entry.createdAt ?? "-")\n"
        text += "size         \(formatBytes(entry.sizeBytes))\n"
        for problem in entry.problems { text += "problem      \(problem)\n" }
        guard let manifest else { return text }
        text += "\nconfiguration\n" + renderFlattened(manifest.configuration)
        text += "\ncounters\n"
        text += manifest.counters.isEmpty ? "  (none)\n" : manifest.counters.keys.sorted().map { "  \($0) = \(manifest.counters[$0]!)\n" }.joined()
        text += "\noffsets (next offset to consume)\n"
        text += manifest.offsets.isEmpty ? "  (none)\n" : manifest.offsets.map { "  \($0.topic)[\($0.partition)] = \($0.nextOffset)\n" }.joined()
        text += "\nindex health\n" + renderFlattened(manifest.indexStatistics)
        text += "\nmetrics\n" + renderFlattened(manifest.metrics)
        text += "\nfiles\n"
        var rows: [[String]] = []
        for file in manifest.files { rows.append([file.path, formatBytes(file.size), String(file.sha256.prefix(16))]) }
        text += renderTable(rows, indent: "  ")
        return text
    }
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

    public func renderText() -> String {
        var text = ""
        for result in results {
            if result.ok {
                text += "\(result.version.folderName): OK, \(result.filesChecked) files, \(formatBytes(result.bytesChecked)), sizes and SHA-256 match\n"
            } else {
                text += "\(result.version.folderName): CORRUPT\n"
                for problem in result.problems { text += "  - \(problem)\n" }
            }
            for warning in result.warnings { text += "  warning: \(warning)\n" }
        }
        return text
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

    public func renderText() -> String {
        var text = "diff \(a.folderName) -> \(b.folderName)\n"
        func values(_ title: String, _ changes: [ValueChange]) {
            text += "\n\(title)\(changes.isEmpty ? ": no differences" : "")\n"
            for change in changes {
                text += "  \(change.path): \(change.a?.jsonText ?? "(absent)") -> \(change.b?.jsonText ?? "(absent)")\n"
            }
        }
        values("configuration", configuration)
        text += "\ncounters\(counters.isEmpty ? ": no differences" : "")\n"
        for change in counters {
            text += "  \(change.name): \(change.a?.description ?? "(absent)") -> \(change.b?.description ?? "(absent)")"
            text += change.delta.map { " (\($0 >= 0 ? "+" : "")\(formatNumber($0)))\n" } ?? "\n"
        }
        text += "\noffsets\(offsets.isEmpty ? ": no differences" : "")\n"
        for change in offsets {
            text += "  \(change.topic)[\(change.partition)]: \(change.a.map { String($0) } ?? "(absent)") -> \(change.b.map { String($0) } ?? "(absent)")"
            text += change.delta.map { " (\($0 >= 0 ? "+" : "")\($0))\n" } ?? "\n"
        }
        values("index statistics", indexStatistics)
        text += "\nfiles: \(files.count) differ, \(unchangedFiles) identical\n"
        for file in files {
            text += "  \(file.path): \(file.sizeA.map(formatBytes) ?? "(absent)") -> \(file.sizeB.map(formatBytes) ?? "(absent)")\n"
        }
        text += "\ntensors (\(tensors.count) in both)\n"
        var rows = [["TENSOR", "SHAPE", "MEAN A", "MEAN B", "STD A", "STD B", "MAX|A-B|", "L2(A-B)"]]
        for t in tensors {
            let shape = t.shapeA == t.shapeB ? shapeText(t.shapeA) : "\(shapeText(t.shapeA))->\(shapeText(t.shapeB))"
            rows.append(["\(t.file):\(t.name)", shape, formatNumber(t.a?.mean), formatNumber(t.b?.mean), formatNumber(t.a?.std),
                         formatNumber(t.b?.std), formatNumber(t.maxAbsDiff), formatNumber(t.l2Diff)])
        }
        text += renderTable(rows, indent: "  ")
        for t in tensors where t.note != nil { text += "  \(t.file):\(t.name): \(t.note!)\n" }
        if !tensorsOnlyInA.isEmpty { text += "  only in \(a.folderName): \(tensorsOnlyInA.joined(separator: ", "))\n" }
        if !tensorsOnlyInB.isEmpty { text += "  only in \(b.folderName): \(tensorsOnlyInB.joined(separator: ", "))\n" }
        return text
    }
}

extension CheckpointPruneReport: CheckpointReport {
    public func renderText() -> String {
        var text = "retention: keep the newest \(keepVersions) intact versions, LATEST, pinned and ones being read\n"
        text += "deleted: \(deleted.isEmpty ? "none" : deleted.map(\.folderName).joined(separator: ", "))\n"
        for kept in kept { text += "kept \(kept.version.folderName): \(kept.reasons.joined(separator: ", "))\n" }
        for skipped in skipped { text += "kept \(skipped.version.folderName): \(skipped.reason)\n" }
        for failure in failures { text += "failed: \(failure)\n" }
        return text
    }
}

/// The result of `pin` and `unpin`.
public struct CheckpointPinReport: CheckpointReport {
    public var version: CheckpointVersion
    /// The state after the command.
    public var pinned: Bool
    /// False when the version already was in that state.
    public var changed: Bool

    public func renderText() -> String {
        "\(version.folderName): \(pinned ? "pinned" : "not pinned")\(changed ? "" : " (unchanged)")\n"
    }
}

extension CheckpointStore {
    /// Lists every version folder, newest first, with its status. Statuses compare sizes
    /// (cheap); with `verifyChecksums` they also compare SHA-256s.
    /// - Throws: ``CheckpointError`` when the directory cannot be listed.
    public func list(verifyChecksums: Bool = false) throws -> CheckpointListing {
        let latest = try? latestVersion()
        let entries = try versions().reversed().map { version in
            listEntry(for: inspect(version, checksums: verifyChecksums), latest: latest)
        }
        return CheckpointListing(directory: path, latest: latest, checksumsVerified: verifyChecksums, versions: entries)
    }

    /// Details of one version (default: the one `LATEST` names), checked with SHA-256s.
    /// - Throws: ``CheckpointError`` with code ``CheckpointError/Code/notFound`` when it does not exist.
    public func show(_ version: CheckpointVersion? = nil) throws -> CheckpointDetails {
        let version = try version ?? requireLatest()
        let lease = try acquireReadLease(version)
        defer { lease.release() }
        let report = inspect(version, checksums: true)
        return CheckpointDetails(entry: listEntry(for: report, latest: try? latestVersion()), manifest: report.manifest)
    }

    /// ``verify(_:)`` of one version, or ``verifyAll()``, as a report.
    /// - Throws: what those throw.
    public func verifyReport(_ version: CheckpointVersion?, all: Bool = false) throws -> CheckpointVerifyReport {
        CheckpointVerifyReport(directory: path, results: all ? try verifyAll() : [try verify(version)])
    }

    /// Compares two versions: configuration, counters, offsets and index statistics leaf by
    /// leaf, files by SHA-256, and every tensor present in a `.safetensors` file of both
    /// (shape, mean, std, max |a-b|, L2 of a-b). Both versions are leased while compared.
    /// - Throws: ``CheckpointError`` when a version is missing or its manifest or sizes are bad.
    public func diff(_ a: CheckpointVersion, _ b: CheckpointVersion) throws -> CheckpointDiff {
        let leaseA = try acquireReadLease(a)
        defer { leaseA.release() }
        let leaseB = try acquireReadLease(b)
        defer { leaseB.release() }
        func manifest(_ version: CheckpointVersion) throws -> CheckpointManifest {
            let report = inspect(version, checksums: false)
            guard report.ok, let manifest = report.manifest else {
                throw CheckpointError(.corruptVersion, "\(version.folderName) cannot be compared: \(report.problems.joined(separator: "; "))",
                                      remedy: "Run `hsnn checkpoint verify \(path) \(version.number)`", path: folderPath(version))
            }
            return manifest
        }
        let manifestA = try manifest(a), manifestB = try manifest(b)
        var result = CheckpointDiff(a: a, b: b, configuration: valueChanges(manifestA.configuration, manifestB.configuration),
                                    counters: [], offsets: [], indexStatistics: valueChanges(manifestA.indexStatistics, manifestB.indexStatistics),
                                    files: [], unchangedFiles: 0, tensors: [], tensorsOnlyInA: [], tensorsOnlyInB: [])
        for name in Set(manifestA.counters.keys).union(manifestB.counters.keys).sorted() {
            let x = manifestA.counters[name], y = manifestB.counters[name]
            guard x != y else { continue }
            result.counters.append(CounterChange(name: name, a: x, b: y, delta: x.flatMap { x in y.map { $0.doubleValue - x.doubleValue } }))
        }
        struct Partition: Hashable, Comparable {
            var topic: String, partition: Int32
            static func < (l: Partition, r: Partition) -> Bool { (l.topic, l.partition) < (r.topic, r.partition) }
        }
        let offsetsA = Dictionary(manifestA.offsets.map { (Partition(topic: $0.topic, partition: $0.partition), $0.nextOffset) }, uniquingKeysWith: { x, _ in x })
        let offsetsB = Dictionary(manifestB.offsets.map { (Partition(topic: $0.topic, partition: $0.partition), $0.nextOffset) }, uniquingKeysWith: { x, _ in x })
        for key in Set(offsetsA.keys).union(offsetsB.keys).sorted() {
            let x = offsetsA[key], y = offsetsB[key]
            guard x != y else { continue }
            result.offsets.append(OffsetChange(topic: key.topic, partition: key.partition, a: x, b: y, delta: x.flatMap { x in y.map { $0 - x } }))
        }
        let filesA = Dictionary(manifestA.files.map { ($0.path, $0) }, uniquingKeysWith: { x, _ in x })
        let filesB = Dictionary(manifestB.files.map { ($0.path, $0) }, uniquingKeysWith: { x, _ in x })
        for path in Set(filesA.keys).union(filesB.keys).sorted() {
            let x = filesA[path], y = filesB[path]
            if let x, let y, x.sha256 == y.sha256, x.size == y.size { result.unchangedFiles += 1 } else {
                result.files.append(FileChange(path: path, sizeA: x?.size, sizeB: y?.size))
            }
            guard path.hasSuffix(".safetensors"), let x, let y else { continue }
            let compared = try compareSafetensors(file: path, pathA: folderPath(a) + "/" + path, pathB: folderPath(b) + "/" + path,
                                                  identical: x.sha256 == y.sha256 && x.size == y.size)
            result.tensors += compared.comparisons
            result.tensorsOnlyInA += compared.onlyInA
            result.tensorsOnlyInB += compared.onlyInB
        }
        for path in filesA.keys.sorted() where path.hasSuffix(".safetensors") && filesB[path] == nil { result.tensorsOnlyInA.append("\(path):*") }
        for path in filesB.keys.sorted() where path.hasSuffix(".safetensors") && filesA[path] == nil { result.tensorsOnlyInB.append("\(path):*") }
        return result
    }

    /// Pins a version and reports the new state.
    /// - Throws: what ``pin(_:reason:)`` throws.
    public func pinReport(_ version: CheckpointVersion, reason: String? = nil) throws -> CheckpointPinReport {
        let changed = try pin(version, reason: reason)
        return CheckpointPinReport(version: version, pinned: true, changed: changed)
    }

    /// Unpins a version and reports the new state.
    /// - Throws: what ``unpin(_:)`` throws.
    public func unpinReport(_ version: CheckpointVersion) throws -> CheckpointPinReport {
        let changed = try unpin(version)
        return CheckpointPinReport(version: version, pinned: false, changed: changed)
    }

    func listEntry(for report: CheckpointVerification, latest: CheckpointVersion?) -> CheckpointListEntry {
        let manifest = report.manifest
        return CheckpointListEntry(
            version: report.version, folder: report.folder, status: report.ok ? "ok" : "corrupt", latest: report.version == latest,
            pinned: report.pinned, unpublished: latest.map { report.version > $0 } ?? false, parentVersion: manifest?.parentVersion,
            createdAt: manifest?.createdAt, createdAtUnixMilliseconds: manifest?.createdAtUnixMilliseconds, eventsTrained: manifest?.eventsTrained,
            offsets: manifest?.offsets ?? [], offsetsSummary: summarize(manifest?.offsets ?? []),
            sizeBytes: folderBytes(report.folder), problems: report.problems)
    }

    private func folderBytes(_ folder: String) -> Int64 {
        var total: Int64 = 0
        func walk(_ path: String) {
            guard let names = try? FileSystem.list(path) else { return }
            for name in names {
                let child = path + "/" + name
                switch try? FileSystem.kind(child) {
                case .directory: walk(child)
                case .regular: total += (try? FileSystem.size(child)) ?? 0
                default: break
                }
            }
        }
        walk(folder)
        return total
    }
}

private func valueChanges(_ a: ManifestJSON, _ b: ManifestJSON) -> [ValueChange] {
    let leavesA = Dictionary(a.flattened().map { ($0.path, $0.value) }, uniquingKeysWith: { x, _ in x })
    let leavesB = Dictionary(b.flattened().map { ($0.path, $0.value) }, uniquingKeysWith: { x, _ in x })
    return Set(leavesA.keys).union(leavesB.keys).sorted().compactMap { path in
        leavesA[path] == leavesB[path] ? nil : ValueChange(path: path, a: leavesA[path], b: leavesB[path])
    }
}

/// `topic[p]=next ...` per topic for up to four partitions, else a count and a sum.
func summarize(_ offsets: [CheckpointPartitionOffset]) -> String {
    var topics: [String: [CheckpointPartitionOffset]] = [:]
    for offset in offsets { topics[offset.topic, default: []].append(offset) }
    return topics.keys.sorted().map { topic in
        let partitions = topics[topic]!.sorted { $0.partition < $1.partition }
        if partitions.count <= 4 {
            return topic + partitions.map { "[\($0.partition)]=\($0.nextOffset)" }.joined(separator: " ")
        }
        return "\(topic): \(partitions.count) partitions, next offsets sum \(partitions.reduce(Int64(0)) { $0 + $1.nextOffset })"
    }.joined(separator: "; ")
}

func formatBytes(_ bytes: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes), unit = 0
    while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
}

func formatNumber(_ value: Double?) -> String {
    guard let value else { return "-" }
    if value == 0 { return "0" }
    if value.rounded() == value, abs(value) < 1e15 { return String(Int64(value)) }
    return String(format: "%.6g", value)
}

private func shapeText(_ shape: [Int]) -> String { "[" + shape.map(String.init).joined(separator: ",") + "]" }

private func renderFlattened(_ value: ManifestJSON) -> String {
    let leaves = value.flattened()
    if leaves.count == 1, leaves[0].path.isEmpty, leaves[0].value == .emptyObject { return "  (none)\n" }
    return leaves.map { "  \($0.path) = \($0.value.jsonText)\n" }.joined()
}

private func renderTable(_ rows: [[String]], indent: String = "") -> String {
    guard let columns = rows.map(\.count).max() else { return "" }
    var widths = [Int](repeating: 0, count: columns)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    return rows.map { row in
        indent + row.enumerated().map { i, cell in
            i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
        }.joined(separator: "  ") + "\n"
    }.joined()
}
