import Foundation
import HSNNMath
import Safetensors

/// One named tensor of a ``ModelSnapshot``.
public struct SnapshotTensor: Sendable {
    public enum Payload: Sendable {
        case f32([Float])
        case i32([Int32])
        case i64([Int64])
        case u8([UInt8])
    }

    public var name: String
    public var shape: [Int]
    public var payload: Payload
}

/// Scalar state saved beside the tensors (`model.json`).
struct ModelStateHeader: Codable {
    var formatVersion: Int
    var config: ModelConfig
    var layout: FeatureLayout
    var counters: TrainingCounters
    var adamStep: Int64
    var rngState: UInt64
    var crossGlobalImpressions: Double
    var crossGlobalClicks: Double
    var crossGlobalUpdatedMs: Int64
    var indexMovesTotal: Int64
    var indexMovesLastRemap: Int64
    var indexRemaps: Int64
    var indexReseeded: Int64
    var indexVersion: Int64
    var indexRepresentativesDirty: Bool
    var indexCodebookSeeded: Bool
    var indexCenter: [Float]
    var balanceWindowCounts: [[Int]]
    var itemCount: Int
    var indexedItemCapacity: Int
    /// Clock of the click-frequency estimator and the click memory's ring position.
    var frequencyClicks: Int64
    var negativeMemoryNext: Int
    var negativeMemoryFilled: Int
}

/// A complete, immutable deep copy of a ``RetrievalModel``'s state, taken between batches on the
/// training thread and written from any thread while training continues.
///
/// Files written by ``write(to:)`` (documented in docs/model.md):
/// - `model.json`: format version, configuration, feature layout, counters, schedule, optimizer
///   step, RNG state, index counters;
/// - `items.json`: the item ids in index order (`["42", "7", ...]`);
/// - `weights.safetensors`: dense weights, embedding tables, index codebooks and projection;
/// - `optimizer.safetensors`: Adam moments and row-wise Adagrad accumulators;
/// - `state.safetensors`: item catalog, index mapping, representatives, balance window and the
///   per-user cross-feature state.
public struct ModelSnapshot: Sendable {
    /// Current format of the state folder.
    public static let formatVersion = 3
    public let header: Data
    public let itemIDs: [String]
    public let weights: [SnapshotTensor]
    public let optimizer: [SnapshotTensor]
    public let state: [SnapshotTensor]
    /// Examples trained when the snapshot was taken.
    public let examplesTrained: Int64

    /// File names inside a state folder.
    public static let fileNames = ["model.json", "items.json", "weights.safetensors", "optimizer.safetensors", "state.safetensors"]

    /// Writes the state files into `folder` (which must exist), each with permission bits `mode`.
    /// - Throws: ``ModelStateError`` naming the file when a write fails.
    public func write(to folder: URL, mode: mode_t = 0o640, fsync: Bool = false) throws {
        func writeData(_ data: Data, _ name: String) throws {
            let path = folder.appendingPathComponent(name).path
            guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: Int(mode)]) else {
                throw ModelStateError(path: path, message: "cannot write \(path); check that the folder exists and is writable")
            }
            if fsync, let handle = FileHandle(forWritingAtPath: path) { try? handle.synchronize(); try? handle.close() }
        }
        try writeData(header, "model.json")
        try writeData(try JSONEncoder().encode(itemIDs), "items.json")
        for (name, tensors) in [("weights.safetensors", weights), ("optimizer.safetensors", optimizer), ("state.safetensors", state)] {
            var w = SafetensorsWriter(metadata: ["format": "hsnn-model", "format_version": "\(Self.formatVersion)"])
            let path = folder.appendingPathComponent(name).path
            do {
                for t in tensors {
                    switch t.payload {
                    case .f32(let v): try w.add(name: t.name, shape: t.shape, floats: v)
                    case .i32(let v): try w.add(name: t.name, shape: t.shape, int32s: v)
                    case .i64(let v): try w.add(name: t.name, shape: t.shape, int64s: v)
                    case .u8(let v): try w.add(name: t.name, shape: t.shape, uint8s: v)
                    }
                }
                try w.write(toPath: path, mode: mode, fsync: fsync)
            } catch {
                throw ModelStateError(path: path, message: "cannot write \(path): \(error)")
            }
        }
    }
}

/// A state folder that cannot be written or read.
public struct ModelStateError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    public var description: String { message }
}

extension RetrievalModel {
    /// A deep copy of the whole state (see ``ModelSnapshot``); cheap enough to take between batches.
    public func makeSnapshot() -> ModelSnapshot {
        let L = index?.levels ?? 0
        let header = ModelStateHeader(
            formatVersion: ModelSnapshot.formatVersion, config: config, layout: layout, counters: counters, adamStep: adam.step,
            rngState: rng.state, crossGlobalImpressions: cross.globalImpressions, crossGlobalClicks: cross.globalClicks,
            crossGlobalUpdatedMs: cross.globalUpdatedMs, indexMovesTotal: index?.movesTotal ?? 0,
            indexMovesLastRemap: index?.movesLastRemap ?? 0, indexRemaps: index?.remaps ?? 0, indexReseeded: index?.reseeded ?? 0, indexVersion: index?.version ?? 0,
            indexRepresentativesDirty: index?.representativesDirty ?? false, indexCodebookSeeded: index?.codebookSeeded ?? false,
            indexCenter: index?.center ?? [], balanceWindowCounts: index?.windowCounts ?? [],
            itemCount: catalog.count, indexedItemCapacity: index?.memberPosition.count ?? 0,
            frequencyClicks: frequency.clicks, negativeMemoryNext: memory.next, negativeMemoryFilled: memory.filled)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        let headerData = (try? encoder.encode(header)) ?? Data()

        func tensor(_ m: Matrix, _ name: String) -> SnapshotTensor {
            SnapshotTensor(name: name, shape: [m.rows, m.cols], payload: .f32(m.toArray()))
        }
        var weights: [SnapshotTensor] = []
        var optimizer: [SnapshotTensor] = []
        for p in denseParameters {
            weights.append(tensor(p.value, p.name))
            optimizer.append(tensor(p.m, p.name + ".adam_m"))
            optimizer.append(tensor(p.v, p.name + ".adam_v"))
        }
        for t in [userTable, itemTable] {
            weights.append(tensor(t.table, t.name))
            optimizer.append(SnapshotTensor(name: t.name + ".adagrad", shape: [t.rowCount], payload: .f32(t.accumulator.toArray())))
        }
        let n = catalog.count, v = catalog.valuesPerItem, dw = catalog.denseWidth
        var state: [SnapshotTensor] = [
            SnapshotTensor(name: "catalog.value_hash", shape: [n, v], payload: .i64(catalog.valueHash.map { Int64(bitPattern: $0) })),
            SnapshotTensor(name: "catalog.value_slot", shape: [n, v], payload: .u8(catalog.valueSlot)),
            SnapshotTensor(name: "catalog.dense", shape: [n, dw], payload: .f32(catalog.dense)),
            SnapshotTensor(name: "catalog.live", shape: [n], payload: .u8(catalog.live.map { $0 ? 1 : 0 })),
            SnapshotTensor(name: "catalog.catalogued", shape: [n], payload: .u8(catalog.catalogued.map { $0 ? 1 : 0 })),
            SnapshotTensor(name: "catalog.last_seen_ms", shape: [n], payload: .i64(catalog.lastSeenMs)),
            SnapshotTensor(name: "catalog.version", shape: [n], payload: .i64(catalog.version.map { Int64($0) })),
            SnapshotTensor(name: "catalog.popularity_impressions", shape: [n], payload: .f32(catalog.popImpressions)),
            SnapshotTensor(name: "catalog.popularity_clicks", shape: [n], payload: .f32(catalog.popClicks)),
            SnapshotTensor(name: "catalog.popularity_updated_ms", shape: [n], payload: .i64(catalog.popUpdatedMs)),
            SnapshotTensor(name: "catalog.lifetime_impressions", shape: [n], payload: .f32(catalog.lifetimeImpressions)),
            SnapshotTensor(name: "catalog.lifetime_clicks", shape: [n], payload: .f32(catalog.lifetimeClicks)),
            SnapshotTensor(name: "retrieval.frequency_last_click", shape: [frequency.lastClick.count], payload: .i64(frequency.lastClick)),
            SnapshotTensor(name: "retrieval.frequency_gap", shape: [frequency.gap.count], payload: .f32(frequency.gap)),
            SnapshotTensor(name: "retrieval.negative_memory", shape: [memory.items.count], payload: .i32(memory.items)),
        ]
        if let index {
            let cap = index.memberPosition.count
            state.append(SnapshotTensor(name: "index.path", shape: [cap, L], payload: .i32(index.path)))
            state.append(SnapshotTensor(name: "index.item_vectors", shape: [cap, index.dim], payload: .f32(index.itemVectors)))
            var flat: [Int32] = [], offsets: [Int64] = [0]
            for m in index.members { flat.append(contentsOf: m); offsets.append(Int64(flat.count)) }
            state.append(SnapshotTensor(name: "index.leaf_members", shape: [flat.count], payload: .i32(flat)))
            state.append(SnapshotTensor(name: "index.leaf_offsets", shape: [offsets.count], payload: .i64(offsets)))
            state.append(SnapshotTensor(name: "index.slot_weights", shape: [index.slotWeights.count], payload: .f32(index.slotWeights)))
            for (t, p) in index.profiles.enumerated() {
                state.append(SnapshotTensor(name: "index.profile_offsets.\(t)", shape: [p.offsets.count], payload: .i32(p.offsets)))
                state.append(SnapshotTensor(name: "index.profile_values.\(t)", shape: [p.hashes.count],
                                            payload: .i64(p.hashes.map { Int64(bitPattern: $0) })))
                state.append(SnapshotTensor(name: "index.profile_slots.\(t)", shape: [p.slots.count], payload: .u8(p.slots)))
                state.append(SnapshotTensor(name: "index.profile_popular.\(t)", shape: [p.popular.count], payload: .i32(p.popular)))
            }
            for t in 0..<L {
                state.append(SnapshotTensor(name: "index.representatives.\(t)", shape: [index.representatives[t].count],
                                            payload: .i32(index.representatives[t])))
                state.append(SnapshotTensor(name: "index.dirty_representatives.\(t)", shape: [index.dirtyRepresentatives[t].count],
                                            payload: .i32(index.dirtyRepresentatives[t].map { Int32($0) })))
                let k = index.sizes[t]
                state.append(SnapshotTensor(name: "index.balance_window.\(t)", shape: [index.windowSums[t].count, k],
                                            payload: .f32(index.windowSums[t].flatMap { $0 })))
            }
        }
        // Cross features: users sorted by key hash, their values in slot order.
        let users = cross.users.keys.sorted()
        var keys: [Int64] = [], imp: [Float] = [], clk: [Float] = [], upd: [Int64] = [], lastImp: [Int64] = [], lastClk: [Int64] = []
        var userOffsets: [Int64] = [0], totals: [Float] = [], totalTimes: [Int64] = []
        for u in users {
            let h = cross.users[u]!
            keys.append(contentsOf: h.keys.map { Int64(bitPattern: $0) })
            imp.append(contentsOf: h.impressions); clk.append(contentsOf: h.clicks); upd.append(contentsOf: h.updatedMs)
            lastImp.append(contentsOf: h.lastImpressionMs); lastClk.append(contentsOf: h.lastClickMs)
            userOffsets.append(Int64(keys.count))
            totals.append(h.totalImpressions); totals.append(h.totalClicks)
            totalTimes.append(h.totalUpdatedMs); totalTimes.append(h.lastSeenMs)
        }
        let e = keys.count, u = users.count
        state += [
            SnapshotTensor(name: "cross.user_hash", shape: [u], payload: .i64(users.map { Int64(bitPattern: $0) })),
            SnapshotTensor(name: "cross.user_offsets", shape: [u + 1], payload: .i64(userOffsets)),
            SnapshotTensor(name: "cross.user_totals", shape: [u, 2], payload: .f32(totals)),
            SnapshotTensor(name: "cross.user_times_ms", shape: [u, 2], payload: .i64(totalTimes)),
            SnapshotTensor(name: "cross.value_hash", shape: [e], payload: .i64(keys)),
            SnapshotTensor(name: "cross.impressions", shape: [e], payload: .f32(imp)),
            SnapshotTensor(name: "cross.clicks", shape: [e], payload: .f32(clk)),
            SnapshotTensor(name: "cross.updated_ms", shape: [e], payload: .i64(upd)),
            SnapshotTensor(name: "cross.last_impression_ms", shape: [e], payload: .i64(lastImp)),
            SnapshotTensor(name: "cross.last_click_ms", shape: [e], payload: .i64(lastClk)),
        ]
        return ModelSnapshot(header: headerData, itemIDs: catalog.ids, weights: weights, optimizer: optimizer, state: state,
                             examplesTrained: counters.examplesTrained)
    }

    /// Writes the whole state into `folder` (created if missing). See ``ModelSnapshot``.
    /// - Throws: ``ModelStateError`` when a file cannot be written.
    public func write(to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try makeSnapshot().write(to: folder)
    }

    /// Loads a state folder written by ``write(to:)``; training continued from it is bit-identical
    /// to an uninterrupted run.
    /// - Throws: ``ModelStateError`` naming the file and what is wrong (missing, malformed,
    ///   inconsistent shapes, unsupported format version).
    public static func load(from folder: URL) throws -> RetrievalModel {
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        let header: ModelStateHeader
        do {
            header = try JSONDecoder().decode(ModelStateHeader.self, from: Data(contentsOf: URL(fileURLWithPath: path("model.json"))))
        } catch {
            throw ModelStateError(path: path("model.json"),
                                  message: "cannot read \(path("model.json")): \(error); is \(folder.path) a model folder written by `hsnn train`?")
        }
        guard header.formatVersion == ModelSnapshot.formatVersion else {
            throw ModelStateError(path: path("model.json"),
                                  message: "model format version \(header.formatVersion) is not supported (this build reads \(ModelSnapshot.formatVersion)); "
                                    + "load it with the release that wrote it, or move its checkpoint directory aside to train a fresh model")
        }
        let ids: [String]
        do { ids = try JSONDecoder().decode([String].self, from: Data(contentsOf: URL(fileURLWithPath: path("items.json")))) } catch {
            throw ModelStateError(path: path("items.json"), message: "cannot read \(path("items.json")): \(error)")
        }
        let model: RetrievalModel
        do { model = try RetrievalModel(config: header.config) } catch {
            throw ModelStateError(path: path("model.json"), message: "invalid configuration in \(path("model.json")): \(error)")
        }
        func open(_ name: String) throws -> SafetensorsFile {
            do { return try SafetensorsFile(path: path(name)) } catch {
                throw ModelStateError(path: path(name), message: "cannot read \(path(name)): \(error)")
            }
        }
        let weights = try open("weights.safetensors"), optimizer = try open("optimizer.safetensors"), state = try open("state.safetensors")
        func fill(_ m: Matrix, _ file: SafetensorsFile, _ name: String) throws {
            let values: [Float]
            do { values = try file.floats(name) } catch { throw ModelStateError(path: folder.path, message: "tensor \(name): \(error)") }
            guard values.count == m.count else {
                throw ModelStateError(path: folder.path, message: "tensor \(name) has \(values.count) values, the configuration needs \(m.count)")
            }
            m.load(values)
        }
        func get<T>(_ name: String, _ read: (String) throws -> [T]) throws -> [T] {
            do { return try read(name) } catch { throw ModelStateError(path: path("state.safetensors"), message: "tensor \(name): \(error)") }
        }
        for p in model.denseParameters {
            try fill(p.value, weights, p.name)
            try fill(p.m, optimizer, p.name + ".adam_m")
            try fill(p.v, optimizer, p.name + ".adam_v")
        }
        for t in [model.userTable, model.itemTable] {
            try fill(t.table, weights, t.name)
            try fill(t.accumulator, optimizer, t.name + ".adagrad")
        }
        model.layout = header.layout
        model.counters = header.counters
        model.adam.step = header.adamStep
        model.rng = SeededRandom(seed: 0)
        model.rng.state = header.rngState
        let n = header.itemCount
        guard ids.count == n else {
            throw ModelStateError(path: path("items.json"), message: "items.json lists \(ids.count) items, model.json says \(n)")
        }
        model.catalog.restore(
            ids: ids, valueHash: try get("catalog.value_hash", state.int64s).map { UInt64(bitPattern: $0) },
            valueSlot: try get("catalog.value_slot", state.uint8s), dense: try get("catalog.dense", state.floats),
            live: try get("catalog.live", state.uint8s).map { $0 != 0 }, catalogued: try get("catalog.catalogued", state.uint8s).map { $0 != 0 },
            lastSeenMs: try get("catalog.last_seen_ms", state.int64s), version: try get("catalog.version", state.int64s).map { UInt32(truncatingIfNeeded: $0) },
            popImpressions: try get("catalog.popularity_impressions", state.floats), popClicks: try get("catalog.popularity_clicks", state.floats),
            popUpdatedMs: try get("catalog.popularity_updated_ms", state.int64s),
            lifetimeImpressions: try get("catalog.lifetime_impressions", state.floats), lifetimeClicks: try get("catalog.lifetime_clicks", state.floats))
        guard model.catalog.valueHash.count == n * model.catalog.valuesPerItem, model.catalog.dense.count == n * model.catalog.denseWidth,
              model.catalog.live.count == n, model.catalog.popUpdatedMs.count == n,
              model.catalog.lifetimeImpressions.count == n, model.catalog.lifetimeClicks.count == n else {
            throw ModelStateError(path: path("state.safetensors"), message: "catalog tensors do not match \(n) items")
        }
        let lastClick = try get("retrieval.frequency_last_click", state.int64s), gap = try get("retrieval.frequency_gap", state.floats)
        let remembered = try get("retrieval.negative_memory", state.int32s)
        guard lastClick.count == gap.count, lastClick.count <= n, remembered.count == model.memory.items.count,
              remembered.allSatisfy({ $0 >= -1 && Int($0) < n }),
              (0..<remembered.count).contains(header.negativeMemoryNext), (0...remembered.count).contains(header.negativeMemoryFilled) else {
            throw ModelStateError(path: path("state.safetensors"), message: "retrieval tensors (click frequencies, click memory) are inconsistent")
        }
        model.frequency.clicks = header.frequencyClicks
        model.frequency.lastClick = lastClick
        model.frequency.gap = gap
        model.memory = NegativeMemory(items: remembered, next: header.negativeMemoryNext, filled: header.negativeMemoryFilled)
        if let index = model.index {
            let cap = header.indexedItemCapacity
            index.path = try get("index.path", state.int32s)
            index.itemVectors = try get("index.item_vectors", state.floats)
            guard index.path.count == cap * index.levels, index.itemVectors.count == cap * index.dim else {
                throw ModelStateError(path: path("state.safetensors"), message: "index tensors do not match \(cap) items")
            }
            let flat = try get("index.leaf_members", state.int32s), offsets = try get("index.leaf_offsets", state.int64s)
            guard offsets.count == index.members.count + 1 else {
                throw ModelStateError(path: path("state.safetensors"), message: "index.leaf_offsets does not match the leaf count")
            }
            index.memberPosition = [Int32](repeating: -1, count: cap)
            for leaf in 0..<index.members.count {
                index.members[leaf] = Array(flat[Int(offsets[leaf])..<Int(offsets[leaf + 1])])
                for (pos, i) in index.members[leaf].enumerated() { index.memberPosition[Int(i)] = Int32(pos) }
            }
            for t in 0..<index.levels {
                index.representatives[t] = try get("index.representatives.\(t)", state.int32s)
                let dirty = try get("index.dirty_representatives.\(t)", state.int32s)
                guard dirty.allSatisfy({ $0 >= 0 && Int($0) < index.representatives[t].count }) else {
                    throw ModelStateError(path: path("state.safetensors"), message: "index.dirty_representatives.\(t) names nodes that do not exist")
                }
                index.dirtyRepresentatives[t] = dirty.map { Int($0) }
                let k = index.sizes[t]
                let w = try get("index.balance_window.\(t)", state.floats)
                index.windowSums[t] = stride(from: 0, to: w.count, by: k).map { Array(w[$0..<($0 + k)]) }
            }
            let slotWeights = try get("index.slot_weights", state.floats)
            guard slotWeights.count == index.slotWeights.count else {
                throw ModelStateError(path: path("state.safetensors"), message: "index.slot_weights does not match the item feature slots")
            }
            index.slotWeights = slotWeights
            if header.config.nodeCrossFeatures && header.indexCodebookSeeded {
                var profiles: [NodeProfiles] = []
                for t in 0..<index.levels {
                    let p = NodeProfiles(
                        offsets: try get("index.profile_offsets.\(t)", state.int32s),
                        hashes: try get("index.profile_values.\(t)", state.int64s).map { UInt64(bitPattern: $0) },
                        slots: try get("index.profile_slots.\(t)", state.uint8s), popular: try get("index.profile_popular.\(t)", state.int32s))
                    guard p.isConsistent, p.nodeCount == index.nodeCount(level: t) else {
                        throw ModelStateError(path: path("state.safetensors"), message: "index.profile tensors of level \(t + 1) are inconsistent")
                    }
                    profiles.append(p)
                }
                index.profiles = profiles
            }
            index.windowCounts = header.balanceWindowCounts
            index.movesTotal = header.indexMovesTotal
            index.movesLastRemap = header.indexMovesLastRemap
            index.remaps = header.indexRemaps
            index.reseeded = header.indexReseeded
            index.version = header.indexVersion
            index.representativesDirty = header.indexRepresentativesDirty
            index.codebookSeeded = header.indexCodebookSeeded
            index.center = header.indexCenter
        }
        let cross = model.cross
        cross.globalImpressions = header.crossGlobalImpressions
        cross.globalClicks = header.crossGlobalClicks
        cross.globalUpdatedMs = header.crossGlobalUpdatedMs
        let users = try get("cross.user_hash", state.int64s), userOffsets = try get("cross.user_offsets", state.int64s)
        let totals = try get("cross.user_totals", state.floats), times = try get("cross.user_times_ms", state.int64s)
        let keys = try get("cross.value_hash", state.int64s), imp = try get("cross.impressions", state.floats)
        let clk = try get("cross.clicks", state.floats), upd = try get("cross.updated_ms", state.int64s)
        let lastImp = try get("cross.last_impression_ms", state.int64s), lastClk = try get("cross.last_click_ms", state.int64s)
        guard userOffsets.count == users.count + 1, totals.count == 2 * users.count, times.count == 2 * users.count,
              [imp.count, clk.count, upd.count, lastImp.count, lastClk.count].allSatisfy({ $0 == keys.count }),
              userOffsets.last.map({ Int($0) == keys.count }) ?? false else {
            throw ModelStateError(path: path("state.safetensors"), message: "cross-feature tensors are inconsistent")
        }
        cross.users.reserveCapacity(users.count)
        for (j, u) in users.enumerated() {
            var h = UserHistory()
            let range = Int(userOffsets[j])..<Int(userOffsets[j + 1])
            h.keys = range.map { UInt64(bitPattern: keys[$0]) }
            h.impressions = Array(imp[range]); h.clicks = Array(clk[range]); h.updatedMs = Array(upd[range])
            h.lastImpressionMs = Array(lastImp[range]); h.lastClickMs = Array(lastClk[range])
            for (k, key) in h.keys.enumerated() { h.slotOf[key] = Int32(k) }
            h.totalImpressions = totals[2 * j]; h.totalClicks = totals[2 * j + 1]
            h.totalUpdatedMs = times[2 * j]; h.lastSeenMs = times[2 * j + 1]
            cross.users[UInt64(bitPattern: u)] = h
        }
        return model
    }
}
