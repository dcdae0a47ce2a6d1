import Foundation
import HSNNCheckpoint

/// A checkpoint report the CLI prints for people.
protocol CheckpointTextReport: CheckpointReport {
    /// Human-readable text (several lines, ending with a newline).
    func renderText() -> String
}

extension CheckpointListing: CheckpointTextReport {
    func renderText() -> String {
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

extension CheckpointDetails: CheckpointTextReport {
    func renderText() -> String {
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

extension CheckpointVerifyReport: CheckpointTextReport {
    func renderText() -> String {
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

extension CheckpointDiff: CheckpointTextReport {
    func renderText() -> String {
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

extension CheckpointPruneReport: CheckpointTextReport {
    func renderText() -> String {
        var text = "retention: keep the newest \(keepVersions) intact versions, LATEST, pinned and ones being read\n"
        text += "deleted: \(deleted.isEmpty ? "none" : deleted.map(\.folderName).joined(separator: ", "))\n"
        for kept in kept { text += "kept \(kept.version.folderName): \(kept.reasons.joined(separator: ", "))\n" }
        for skipped in skipped { text += "kept \(skipped.version.folderName): \(skipped.reason)\n" }
        for failure in failures { text += "failed: \(failure)\n" }
        return text
    }
}

extension CheckpointPinReport: CheckpointTextReport {
    func renderText() -> String {
        "\(version.folderName): \(pinned ? "pinned" : "not pinned")\(changed ? "" : " (unchanged)")\n"
    }
}

private func formatBytes(_ bytes: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes), unit = 0
    while value >= 1024, unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
}

private func formatNumber(_ value: Double?) -> String {
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
