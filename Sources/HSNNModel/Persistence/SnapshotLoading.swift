import Foundation
import HSNNMath
import Safetensors

extension RetrievalModel {
    /// Loads a state folder written by ``write(to:)``; training continued from it is bit-identical
    /// to an uninterrupted run.
    /// - Throws: ``ModelStateError`` naming the file and what is wrong (missing, malformed,
    ///   inconsistent shapes, unsupported format version).
    public static func load(from folder: URL) throws -> RetrievalModel {
        func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
        let header: ModelStateHeader
        do {
            header = try ModelStateHeader.decode(Data(contentsOf: URL(fileURLWithPath: path("model.json"))))
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
        model.negatives.rng = SeededRandom(seed: 0)
        model.negatives.rng.state = header.rngState
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
        guard lastClick.count == gap.count, lastClick.count <= n, remembered.count == model.negatives.memory.items.count,
              remembered.allSatisfy({ $0 >= -1 && Int($0) < n }),
              (0..<remembered.count).contains(header.negativeMemoryNext), (0...remembered.count).contains(header.negativeMemoryFilled) else {
            throw ModelStateError(path: path("state.safetensors"), message: "retrieval tensors (click frequencies, click memory) are inconsistent")
        }
        model.negatives.frequency.clicks = header.frequencyClicks
        model.negatives.frequency.lastClick = lastClick
        model.negatives.frequency.gap = gap
        model.negatives.memory = NegativeMemory(items: remembered, next: header.negativeMemoryNext, filled: header.negativeMemoryFilled)
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
        // A fitted smoothing comes from the state; a configured one from the configuration.
        if header.config.clickPriorStrength == 0, let strength = header.crossPriorStrength { cross.priorStrength = strength }
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
