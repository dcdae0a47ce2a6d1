import HSNNEvents
import HSNNMath

/// Stable 64-bit FNV-1a hash of `text` after `prefix` (independent of the process, unlike `Hasher`).
@inlinable
func stableHash(_ prefix: String, _ text: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in prefix.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    h = (h ^ 0x3D) &* 0x0000_0100_0000_01B3
    for b in text.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
    // Final avalanche so the low bits (used for table rows) mix well.
    h ^= h >> 33; h &*= 0xFF51_AFD7_ED55_8CCD; h ^= h >> 33
    return h == 0 ? 1 : h
}

/// Signed log scaling of numeric features: `sign(x) * log1p(|x|)`.
@inlinable
func scaledNumber(_ x: Double) -> Float {
    let a = Float(abs(x))
    let s = log1pf(a)
    return x < 0 ? -s : s
}

import Foundation

/// The names of the feature slots, assigned in order of first appearance in the stream (and
/// saved with the model, so the layout is stable across restarts).
///
/// Slot 0 of each side is the id (`user_id`, `item_id`); categorical features get slots
/// `1...maxFields`; a feature that arrives when all slots are taken shares the last one.
/// Numeric features get dense columns up to `maxDense`; later ones are ignored.
struct FeatureLayout: Sendable, Hashable, Codable {
    var userFields: [String] = []
    var itemFields: [String] = []
    var userDense: [String] = []
    var itemDense: [String] = []
    let maxUserFields: Int
    let maxItemFields: Int
    let maxDense: Int

    init(config: ModelConfig) {
        maxUserFields = config.maxUserFields
        maxItemFields = config.maxItemFields
        maxDense = config.maxDenseFeatures
    }

    /// Pooled slots per side, the id slot included.
    var userSlots: Int { 1 + maxUserFields }
    var itemSlots: Int { 1 + maxItemFields }

    mutating func userSlot(_ name: String) -> Int {
        if let i = userFields.firstIndex(of: name) { return i + 1 }
        if userFields.count < maxUserFields { userFields.append(name); return userFields.count }
        return maxUserFields
    }

    mutating func itemSlot(_ name: String) -> Int {
        if let i = itemFields.firstIndex(of: name) { return i + 1 }
        if itemFields.count < maxItemFields { itemFields.append(name); return itemFields.count }
        return maxItemFields
    }

    mutating func userDenseColumn(_ name: String) -> Int? {
        if let i = userDense.firstIndex(of: name) { return i }
        if userDense.count < maxDense { userDense.append(name); return userDense.count - 1 }
        return nil
    }

    mutating func itemDenseColumn(_ name: String) -> Int? {
        if let i = itemDense.firstIndex(of: name) { return i }
        if itemDense.count < maxDense { itemDense.append(name); return itemDense.count - 1 }
        return nil
    }
}

/// A user's features hashed into slots: `(slot, hash)` pairs plus dense values.
struct HashedUser {
    var idHash: UInt64
    var values: [(slot: Int, hash: UInt64)]
    var dense: [(column: Int, value: Float)]

    init(userID: String, features: Features, layout: inout FeatureLayout) {
        idHash = stableHash("user_id", userID)
        values = []
        dense = []
        for (name, value) in features {
            switch value {
            case .string(let s):
                values.append((layout.userSlot(name), stableHash(name, s)))
            case .strings(let list):
                let slot = layout.userSlot(name)
                for s in list { values.append((slot, stableHash(name, s))) }
            case .number(let x):
                if let c = layout.userDenseColumn(name) { dense.append((c, scaledNumber(x))) }
            }
        }
    }

    /// Appends the user's slots to a pooled lookup batch (rows = hash mod `buckets`).
    func append(to batch: inout PooledLookupBatch, slots: Int, buckets: Int) {
        batch.append(row: Int32(truncatingIfNeeded: idHash % UInt64(buckets)))
        batch.endSlot()
        for s in 1..<slots {
            for v in values where v.slot == s { batch.append(row: Int32(truncatingIfNeeded: v.hash % UInt64(buckets))) }
            batch.endSlot()
        }
    }
}
