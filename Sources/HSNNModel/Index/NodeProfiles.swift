import Foundation

/// The attribute profile of every node of one index level: the most frequent categorical
/// values of the node's items per feature slot, and its most clicked item.
///
/// Index levels see the cross features of (user, node) computed from the profile: for each
/// feature slot, the best of the user's histories over the node's values (the node is as good
/// as the best match it holds), plus the most clicked item's popularity. A node mixing two
/// creators is thus recognised by a user who likes either of them.
struct NodeProfiles: Sendable {
    /// Node `n`'s values are `hashes[offsets[n] ..< offsets[n + 1]]` (with their slots).
    var offsets: [Int32]
    var hashes: [UInt64]
    var slots: [UInt8]
    /// The node's item with the most decayed clicks when the profile was built (-1 = none).
    var popular: [Int32]

    /// Profiles of `count` nodes with no values yet: `offsets` grows by one entry per node filled.
    init(count: Int) {
        offsets = [0]
        hashes = []
        slots = []
        popular = [Int32](repeating: -1, count: count)
    }

    init(offsets: [Int32], hashes: [UInt64], slots: [UInt8], popular: [Int32]) {
        self.offsets = offsets
        self.hashes = hashes
        self.slots = slots
        self.popular = popular
    }

    var nodeCount: Int { popular.count }

    /// Whether the arrays are consistent (for loading saved state).
    var isConsistent: Bool {
        offsets.count == popular.count + 1 && hashes.count == slots.count && offsets.first == 0
            && Int(offsets.last ?? -1) == hashes.count && zip(offsets, offsets.dropFirst()).allSatisfy { $0 <= $1 }
    }

    /// Values kept per feature slot and node (the most frequent among the node's items).
    static var valuesPerSlot: Int { 8 }
}

extension LearnedIndex {
    /// Node profiles of every level from the current mapping, with the items' popularity
    /// decayed to `now` (the cross features' decay).
    func nodeProfiles(catalog: ItemCatalog, cross: CrossFeatureStore, nowMs now: Int64) -> [NodeProfiles] {
        var profiles: [NodeProfiles] = []
        var counts: [UInt64: (slot: UInt8, count: Int32, first: Int32)] = [:]
        for t in 0..<levels {
            let nodes = nodeCount(level: t)
            let leavesPerNode = leafCount / nodes
            var p = NodeProfiles(count: nodes)
            for n in 0..<nodes {
                counts.removeAll(keepingCapacity: true)
                var bestClicks: Float = -1
                var order: Int32 = 0
                for leaf in (n * leavesPerNode)..<((n + 1) * leavesPerNode) {
                    for i32 in members[leaf] {
                        let i = Int(i32)
                        let clicks = catalog.popClicks[i] * cross.decay(catalog.popUpdatedMs[i], now)
                        if clicks > bestClicks || (clicks == bestClicks && i32 < p.popular[n]) {
                            bestClicks = clicks
                            p.popular[n] = i32
                        }
                        let base = i * catalog.valuesPerItem
                        for j in 0..<catalog.valuesPerItem where catalog.valueHash[base + j] != 0 {
                            let h = catalog.valueHash[base + j]
                            if let e = counts[h] { counts[h] = (e.slot, e.count + 1, e.first) } else {
                                counts[h] = (catalog.valueSlot[base + j], 1, order)
                                order += 1
                            }
                        }
                    }
                }
                // Per slot, the most frequent values (ties: first seen), in slot order.
                let ranked = counts.sorted { a, b in
                    a.value.slot != b.value.slot ? a.value.slot < b.value.slot
                        : a.value.count != b.value.count ? a.value.count > b.value.count : a.value.first < b.value.first
                }
                var kept = 0
                var slot: UInt8 = 0
                for (h, e) in ranked {
                    if e.slot != slot { slot = e.slot; kept = 0 }
                    guard kept < NodeProfiles.valuesPerSlot else { continue }
                    p.hashes.append(h)
                    p.slots.append(e.slot)
                    kept += 1
                }
                p.offsets.append(Int32(p.hashes.count))
            }
            profiles.append(p)
        }
        return profiles
    }
}

extension RetrievalModel {
    /// Rebuilds the training-time node profiles (part of the model state) from the current mapping.
    func recomputeNodeProfiles() {
        guard let index, config.nodeCrossFeatures else { return }
        index.profiles = computeNodeProfiles()
    }

    /// Node profiles of every index level from the current mapping.
    func computeNodeProfiles() -> [NodeProfiles] {
        index?.nodeProfiles(catalog: catalog, cross: cross, nowMs: counters.nowMs) ?? []
    }

    /// Recomputes the representatives when a representative was deleted. (Training-time node
    /// profiles are rebuilt at full re-mappings only: a deleted item's values still describe
    /// its node until then.)
    func refreshRepresentativesIfDirty() {
        guard let index, index.representativesDirty else { return }
        index.recomputeRepresentatives(onlyDirty: true)
    }
}

extension CrossFeatureStore {
    /// Writes the (user, node) cross features of level-`l` node `n` from `profiles` into `out`
    /// (``width`` floats, as ``write(user:values:slots:popularItem:catalog:nowMs:into:)`` with the
    /// node's values and its most clicked item).
    func writeNode(user: UserHistory?, profiles: [NodeProfiles], level l: Int, node n: Int, catalog: ItemCatalog, nowMs: Int64,
                   into out: UnsafeMutablePointer<Float>) {
        guard l < profiles.count, n < profiles[l].nodeCount else {
            out.update(repeating: 0, count: width)
            return
        }
        let p = profiles[l]
        let range = Int(p.offsets[n])..<Int(p.offsets[n + 1])
        p.hashes.withUnsafeBufferPointer { hashes in
            p.slots.withUnsafeBufferPointer { slots in
                write(user: user, values: UnsafeBufferPointer(rebasing: hashes[range]),
                      slots: UnsafeBufferPointer(rebasing: slots[range]), popularItem: Int(p.popular[n]),
                      catalog: catalog, nowMs: nowMs, into: out)
            }
        }
    }
}
