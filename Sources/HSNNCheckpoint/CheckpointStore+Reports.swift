import Foundation

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
