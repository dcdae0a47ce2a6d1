import HSNNEvents
import HSNNMath

/// Every item the model knows: catalog features (hashed), liveness, popularity counters.
///
/// Items get a dense index in order of first appearance (catalog upsert or impression). Items
/// seen only in impressions exist with id-only features. Storage is flat arrays with a fixed
/// number of value slots per item, so millions of items cost no per-item allocations.
final class ItemCatalog {
    let valuesPerItem: Int
    let denseWidth: Int
    private(set) var ids: [String] = []
    private var indexByID: [String: Int32] = [:]
    /// `valuesPerItem` categorical values per item: full 64-bit hash (0 = empty) and field slot.
    var valueHash: [UInt64] = []
    var valueSlot: [UInt8] = []
    var idHash: [UInt64] = []
    var dense: [Float] = []
    var live: [Bool] = []
    /// Whether the item came from the catalog (rather than only from impressions).
    var catalogued: [Bool] = []
    var lastSeenMs: [Int64] = []
    /// Bumped on every feature change (invalidates cached tower outputs).
    var version: [UInt32] = []
    /// Decayed impression and click counts and the time they were last brought up to date.
    var popImpressions: [Float] = []
    var popClicks: [Float] = []
    var popUpdatedMs: [Int64] = []
    /// Lifetime (undecayed) impression and click counts.
    var lifetimeImpressions: [Float] = []
    var lifetimeClicks: [Float] = []
    private(set) var liveCount = 0
    /// Bumped on every catalog change (serving caches compare it to skip their staleness scan).
    private(set) var mutations: Int64 = 0

    init(valuesPerItem: Int, denseWidth: Int) {
        self.valuesPerItem = valuesPerItem
        self.denseWidth = denseWidth
    }

    var count: Int { ids.count }

    func index(of id: String) -> Int32? { indexByID[id] }

    /// The index of `id`, creating an id-only live item when it is new.
    func ensure(_ id: String, atMs t: Int64) -> Int32 {
        if let i = indexByID[id] { return i }
        let i = Int32(ids.count)
        mutations += 1
        ids.append(id)
        indexByID[id] = i
        valueHash.append(contentsOf: repeatElement(0, count: valuesPerItem))
        valueSlot.append(contentsOf: repeatElement(0, count: valuesPerItem))
        idHash.append(stableHash("item_id", id))
        dense.append(contentsOf: repeatElement(0, count: denseWidth))
        live.append(true)
        liveCount += 1
        catalogued.append(false)
        lastSeenMs.append(t)
        version.append(0)
        popImpressions.append(0)
        popClicks.append(0)
        popUpdatedMs.append(t)
        lifetimeImpressions.append(0)
        lifetimeClicks.append(0)
        return i
    }

    /// Sets the features of item `i` from a catalog upsert and makes it live.
    func setFeatures(_ i: Int32, _ features: Features, layout: inout FeatureLayout, atMs t: Int64) {
        let item = Int(i), base = item * valuesPerItem
        mutations += 1
        var k = 0
        for j in 0..<valuesPerItem { valueHash[base + j] = 0; valueSlot[base + j] = 0 }
        for j in 0..<denseWidth { dense[item * denseWidth + j] = 0 }
        for (name, value) in features {
            switch value {
            case .string(let s):
                let slot = layout.itemSlot(name)
                if k < valuesPerItem { valueHash[base + k] = stableHash(name, s); valueSlot[base + k] = UInt8(slot); k += 1 }
            case .strings(let list):
                let slot = layout.itemSlot(name)
                for s in list where k < valuesPerItem {
                    valueHash[base + k] = stableHash(name, s); valueSlot[base + k] = UInt8(slot); k += 1
                }
            case .number(let x):
                if let c = layout.itemDenseColumn(name) { dense[item * denseWidth + c] = scaledNumber(x) }
            }
        }
        if !live[item] { live[item] = true; liveCount += 1 }
        catalogued[item] = true
        lastSeenMs[item] = max(lastSeenMs[item], t)
        version[item] &+= 1
    }

    /// Marks item `i` deleted (never retrievable until upserted again).
    func delete(_ i: Int32) {
        let item = Int(i)
        mutations += 1
        if live[item] { live[item] = false; liveCount -= 1 }
        version[item] &+= 1
    }

    /// Appends item `i`'s slots to a pooled lookup batch (slot 0 = id).
    @inline(__always)
    func append(_ i: Int, to batch: inout PooledLookupBatch, slots: Int, buckets: Int) {
        let b = UInt64(buckets)
        batch.append(row: Int32(truncatingIfNeeded: idHash[i] % b))
        batch.endSlot()
        let base = i * valuesPerItem
        for s in 1..<slots {
            for j in 0..<valuesPerItem where valueHash[base + j] != 0 && Int(valueSlot[base + j]) == s {
                batch.append(row: Int32(truncatingIfNeeded: valueHash[base + j] % b))
            }
            batch.endSlot()
        }
    }

    /// Appends empty slots (a node without a representative item).
    func appendEmpty(to batch: inout PooledLookupBatch, slots: Int) {
        for _ in 0..<slots { batch.endSlot() }
    }

    /// Restores the catalog from saved arrays.
    func restore(ids: [String], valueHash: [UInt64], valueSlot: [UInt8], dense: [Float], live: [Bool], catalogued: [Bool],
                 lastSeenMs: [Int64], version: [UInt32], popImpressions: [Float], popClicks: [Float], popUpdatedMs: [Int64],
                 lifetimeImpressions: [Float], lifetimeClicks: [Float]) {
        self.ids = ids
        indexByID = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($0.element, Int32($0.offset)) })
        self.idHash = ids.map { stableHash("item_id", $0) }
        self.valueHash = valueHash
        self.valueSlot = valueSlot
        self.dense = dense
        self.live = live
        self.catalogued = catalogued
        self.lastSeenMs = lastSeenMs
        self.version = version
        self.popImpressions = popImpressions
        self.popClicks = popClicks
        self.popUpdatedMs = popUpdatedMs
        self.lifetimeImpressions = lifetimeImpressions
        self.lifetimeClicks = lifetimeClicks
        liveCount = live.reduce(0) { $0 + ($1 ? 1 : 0) }
    }
}
