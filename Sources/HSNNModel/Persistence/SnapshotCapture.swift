import Foundation
import HSNNMath

extension RetrievalModel {
    /// A deep copy of the whole state (see ``ModelSnapshot``); cheap enough to take between batches.
    public func makeSnapshot() -> ModelSnapshot {
        let L = index?.levels ?? 0
        let header = ModelStateHeader(
            formatVersion: ModelSnapshot.formatVersion, config: config, layout: layout, counters: counters, adamStep: adam.step,
            rngState: negatives.rng.state, crossGlobalImpressions: cross.globalImpressions, crossGlobalClicks: cross.globalClicks,
            crossGlobalUpdatedMs: cross.globalUpdatedMs, indexMovesTotal: index?.movesTotal ?? 0,
            indexMovesLastRemap: index?.movesLastRemap ?? 0, indexRemaps: index?.remaps ?? 0, indexReseeded: index?.reseeded ?? 0, indexVersion: index?.version ?? 0,
            indexRepresentativesDirty: index?.representativesDirty ?? false, indexCodebookSeeded: index?.codebookSeeded ?? false,
            indexCenter: index?.center ?? [], balanceWindowCounts: index?.windowCounts ?? [],
            itemCount: catalog.count, indexedItemCapacity: index?.memberPosition.count ?? 0,
            frequencyClicks: negatives.frequency.clicks, negativeMemoryNext: negatives.memory.next,
            negativeMemoryFilled: negatives.memory.filled, crossPriorStrength: cross.priorStrength)
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
            SnapshotTensor(name: "retrieval.frequency_last_click", shape: [negatives.frequency.lastClick.count],
                           payload: .i64(negatives.frequency.lastClick)),
            SnapshotTensor(name: "retrieval.frequency_gap", shape: [negatives.frequency.gap.count], payload: .f32(negatives.frequency.gap)),
            SnapshotTensor(name: "retrieval.negative_memory", shape: [negatives.memory.items.count], payload: .i32(negatives.memory.items)),
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
}
