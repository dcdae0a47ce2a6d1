import Foundation

/// One user's history over item attribute values (and item ids): exponentially decayed
/// impression and click counts plus the times of the last impression and click.
struct UserHistory: Sendable {
    var slotOf: [UInt64: Int32] = [:]
    var keys: [UInt64] = []
    var impressions: [Float] = []
    var clicks: [Float] = []
    var updatedMs: [Int64] = []
    var lastImpressionMs: [Int64] = []
    var lastClickMs: [Int64] = []
    var totalImpressions: Float = 0
    var totalClicks: Float = 0
    var totalUpdatedMs: Int64 = 0
    var lastSeenMs: Int64 = 0
}

/// Online, bounded, decayed cross features (I2IF): for a (user, item) pair, the user's own
/// history on each of the item's attribute values, aggregated per attribute, plus the user's
/// totals and the item's popularity.
///
/// Updated from the stream only after the examples were trained on, so a label never leaks
/// into its own features. Bounded: at most `maxValuesPerUser` values per user (the least
/// recently updated is replaced) and `maxUsers` users (the least recently seen are dropped).
final class CrossFeatureStore {
    let itemSlots: Int
    let maxValuesPerUser: Int
    let maxUsers: Int
    /// `1 / tau` of the counter decay (`tau = halfLife / ln 2`).
    let decayRate: Double
    let recencyRate: Double
    var users: [UInt64: UserHistory] = [:]
    /// Decayed global impression and click counts (the prior click rate).
    var globalImpressions: Double = 0
    var globalClicks: Double = 0
    var globalUpdatedMs: Int64 = 0
    /// Smoothing strength of the click rates (pseudo-impressions at the prior rate).
    let smoothing: Float = 5
    /// Pseudo-impressions at the prior rate in an item's lifetime click rate: the configured
    /// ``ModelConfig/clickPriorStrength``, or while that is 0 the last
    /// ``estimatePriorStrength(catalog:)`` (20 before the first).
    var priorStrength: Float

    init(itemSlots: Int, config: ModelConfig) {
        self.itemSlots = itemSlots
        maxValuesPerUser = config.crossMaxValuesPerUser
        maxUsers = config.crossMaxUsers
        decayRate = log(2) / config.crossHalfLifeMs
        recencyRate = 1 / config.recencyScaleMs
        priorStrength = config.clickPriorStrength > 0 ? Float(config.clickPriorStrength) : Self.initialPriorStrength
    }

    /// The lifetime smoothing before the stream gave an estimate (and that of model folders
    /// written before it was estimated).
    static let initialPriorStrength: Float = 20

    /// Sets ``priorStrength`` to the empirical-Bayes fit over the items' lifetime counts: with
    /// `N_i` impressions and `C_i` clicks, `p = ΣC / ΣN` and the impression-weighted variance of
    /// the observed rates `S = Σ N_i (C_i/N_i - p)² / ΣN` over the `n` items with impressions,
    /// a beta prior of mean `p` and variance `tau²` has `E[S] = tau² (1 - n/ΣN) + n p (1 - p) / ΣN`,
    /// so `tau² = (S - n p (1 - p) / ΣN) / (1 - n/ΣN)`, and it holds `p (1 - p) / tau² - 1`
    /// pseudo-impressions (kept within 1...10,000). Leaves it unchanged until two items have
    /// impressions, one item has more than one, and both outcomes occurred.
    func estimatePriorStrength(catalog: ItemCatalog) {
        var n = 0.0, sumN = 0.0, sumC = 0.0, sumSquares = 0.0
        for i in 0..<catalog.count {
            let impressions = Double(catalog.lifetimeImpressions[i])
            guard impressions > 0 else { continue }
            let clicks = Double(catalog.lifetimeClicks[i])
            n += 1
            sumN += impressions
            sumC += clicks
            sumSquares += clicks * clicks / impressions
        }
        guard n >= 2, n < sumN, sumC > 0, sumC < sumN else { return }
        let p = sumC / sumN
        let observed = (sumSquares - 2 * p * sumC + p * p * sumN) / sumN
        let spread = (observed - n * p * (1 - p) / sumN) / (1 - n / sumN)
        let strength = spread > 0 ? p * (1 - p) / spread - 1 : .infinity
        priorStrength = Float(min(max(strength, 1), 10_000))
    }

    /// Features per pair: 5 per item slot, 3 user totals, 6 item popularity (decayed
    /// impressions, clicks and click rate; lifetime impressions, clicks and click rate).
    var width: Int { Self.width(itemSlots: itemSlots) }

    static func width(itemSlots: Int) -> Int { itemSlots * 5 + 9 }

    /// The prior click rate (global decayed rate, 0.05 before any data).
    var priorCTR: Float {
        globalImpressions < 1 ? 0.05 : Float(max(min(globalClicks / globalImpressions, 0.99), 1e-4))
    }

    @inline(__always) func decay(_ fromMs: Int64, _ toMs: Int64) -> Float {
        toMs <= fromMs ? 1 : Float(exp(-Double(toMs - fromMs) * decayRate))
    }

    @inline(__always) func recency(_ lastMs: Int64, _ nowMs: Int64) -> Float {
        lastMs == 0 ? 0 : Float(exp(-Double(max(nowMs - lastMs, 0)) * recencyRate))
    }

    /// Writes the cross vector of (`user`, item `i`) at time `nowMs` into `out` (`width` floats).
    func write(user: UserHistory?, item i: Int, catalog: ItemCatalog, nowMs: Int64, into out: UnsafeMutablePointer<Float>) {
        out.update(repeating: 0, count: width)
        if let h = user {
            let base = i * catalog.valuesPerItem
            for s in 0..<itemSlots {
                var acc = ValueHistory()
                if s == 0 {
                    acc.add(h, catalog.idHash[i], nowMs, self)
                } else {
                    for j in 0..<catalog.valuesPerItem where catalog.valueHash[base + j] != 0 && Int(catalog.valueSlot[base + j]) == s {
                        acc.add(h, catalog.valueHash[base + j], nowMs, self)
                    }
                }
                if acc.any { acc.write(into: out + s * 5, self) }
            }
            writeTotals(h, nowMs: nowMs, into: out)
        }
        writePopularity(item: i, catalog: catalog, nowMs: nowMs, into: out)
    }

    /// Writes the cross vector of (`user`, a set of attribute values) into `out`: per feature
    /// slot, the element-wise maximum over the values' features (the best match), the user's
    /// totals, and the popularity of `popularItem` (-1 = none). The id slot stays zero.
    func write(user: UserHistory?, values: UnsafeBufferPointer<UInt64>, slots: UnsafeBufferPointer<UInt8>, popularItem: Int,
               catalog: ItemCatalog, nowMs: Int64, into out: UnsafeMutablePointer<Float>) {
        out.update(repeating: 0, count: width)
        if let h = user {
            var seen: UInt64 = 0
            for (key, slot) in zip(values, slots) {
                let s = Int(slot)
                guard s > 0, s < min(itemSlots, 64) else { continue }
                var acc = ValueHistory()
                acc.add(h, key, nowMs, self)
                guard acc.any else { continue }
                let f = acc.features(self), o = out + s * 5
                let first = seen & (1 << UInt64(s)) == 0
                seen |= 1 << UInt64(s)
                for k in 0..<5 { o[k] = first ? f[k] : max(o[k], f[k]) }
            }
            writeTotals(h, nowMs: nowMs, into: out)
        }
        if popularItem >= 0 { writePopularity(item: popularItem, catalog: catalog, nowMs: nowMs, into: out) }
    }

    private func writeTotals(_ h: UserHistory, nowMs: Int64, into out: UnsafeMutablePointer<Float>) {
        let p0 = priorCTR, logP0 = logf(p0), a = smoothing
        let f = decay(h.totalUpdatedMs, nowMs)
        let ti = h.totalImpressions * f, tc = h.totalClicks * f
        let o = out + itemSlots * 5
        o[0] = log1pf(ti)
        o[1] = log1pf(tc)
        o[2] = logf((tc + a * p0) / (ti + a)) - logP0
    }

    private func writePopularity(item i: Int, catalog: ItemCatalog, nowMs: Int64, into out: UnsafeMutablePointer<Float>) {
        let p0 = priorCTR, logP0 = logf(p0), a = smoothing
        let f = decay(catalog.popUpdatedMs[i], nowMs)
        let pi = catalog.popImpressions[i] * f, pc = catalog.popClicks[i] * f
        let o = out + itemSlots * 5 + 3
        o[0] = log1pf(pi)
        o[1] = log1pf(pc)
        o[2] = logf((pc + 4 * a * p0) / (pi + 4 * a)) - logP0
        o[3] = log1pf(catalog.lifetimeImpressions[i])
        o[4] = log1pf(catalog.lifetimeClicks[i])
        o[5] = logf(lifetimeClickRate(item: i, catalog: catalog, prior: p0)) - logP0
    }

    /// Item `i`'s lifetime click rate, smoothed toward `p0` with ``priorStrength``
    /// pseudo-impressions: its lifetime click-rate feature and its click prior.
    @inline(__always) func lifetimeClickRate(item i: Int, catalog: ItemCatalog, prior p0: Float) -> Float {
        (catalog.lifetimeClicks[i] + priorStrength * p0) / (catalog.lifetimeImpressions[i] + priorStrength)
    }

    /// The click logit's offset for item `i` (-1: an item the catalog does not hold): the log-odds
    /// of its ``lifetimeClickRate(item:catalog:prior:)`` at the prior rate.
    func priorLogit(item i: Int, catalog: ItemCatalog) -> Float {
        let p0 = priorCTR
        let rate = i >= 0 ? lifetimeClickRate(item: i, catalog: catalog, prior: p0) : p0
        return logf(rate / (1 - rate))
    }

    /// The time at which a frozen model reads its counters for an impression at `timeMs`: no
    /// later than the newest impression they hold, so time that passed after the model last
    /// saw the stream does not read as every item and user going quiet.
    func readingTime(scoringAt timeMs: Int64) -> Int64 {
        globalUpdatedMs > 0 ? min(timeMs, globalUpdatedMs) : timeMs
    }

    /// Records that `user` saw item `i` at `nowMs` (and clicked it or not).
    func record(user: UInt64, item i: Int, clicked: Bool, catalog: ItemCatalog, nowMs: Int64) {
        let y: Float = clicked ? 1 : 0
        let g = Double(decay(globalUpdatedMs, nowMs))
        globalImpressions = globalImpressions * g + 1
        globalClicks = globalClicks * g + Double(y)
        globalUpdatedMs = max(globalUpdatedMs, nowMs)
        let pf = decay(catalog.popUpdatedMs[i], nowMs)
        catalog.popImpressions[i] = catalog.popImpressions[i] * pf + 1
        catalog.popClicks[i] = catalog.popClicks[i] * pf + y
        catalog.popUpdatedMs[i] = max(catalog.popUpdatedMs[i], nowMs)
        catalog.lifetimeImpressions[i] += 1
        catalog.lifetimeClicks[i] += y

        var h = users.removeValue(forKey: user) ?? UserHistory()
        let tf = decay(h.totalUpdatedMs, nowMs)
        h.totalImpressions = h.totalImpressions * tf + 1
        h.totalClicks = h.totalClicks * tf + y
        h.totalUpdatedMs = max(h.totalUpdatedMs, nowMs)
        h.lastSeenMs = max(h.lastSeenMs, nowMs)
        bump(&h, catalog.idHash[i], y, nowMs)
        let base = i * catalog.valuesPerItem
        for j in 0..<catalog.valuesPerItem where catalog.valueHash[base + j] != 0 {
            bump(&h, catalog.valueHash[base + j], y, nowMs)
        }
        users[user] = h
        if users.count > maxUsers + maxUsers / 10 { evictUsers() }
    }

    private func bump(_ h: inout UserHistory, _ key: UInt64, _ y: Float, _ nowMs: Int64) {
        let j: Int
        if let e = h.slotOf[key] {
            j = Int(e)
        } else if h.keys.count < maxValuesPerUser {
            j = h.keys.count
            h.keys.append(key); h.impressions.append(0); h.clicks.append(0); h.updatedMs.append(nowMs)
            h.lastImpressionMs.append(0); h.lastClickMs.append(0)
            h.slotOf[key] = Int32(j)
        } else {
            // Replace the least recently updated value (lowest index on ties).
            var oldest = 0
            for k in 1..<h.keys.count where h.updatedMs[k] < h.updatedMs[oldest] { oldest = k }
            j = oldest
            h.slotOf.removeValue(forKey: h.keys[j])
            h.keys[j] = key; h.impressions[j] = 0; h.clicks[j] = 0; h.updatedMs[j] = nowMs
            h.lastImpressionMs[j] = 0; h.lastClickMs[j] = 0
            h.slotOf[key] = Int32(j)
        }
        let f = decay(h.updatedMs[j], nowMs)
        h.impressions[j] = h.impressions[j] * f + 1
        h.clicks[j] = h.clicks[j] * f + y
        h.updatedMs[j] = max(h.updatedMs[j], nowMs)
        h.lastImpressionMs[j] = nowMs
        if y > 0 { h.lastClickMs[j] = nowMs }
    }

    /// Drops the least recently seen users down to `maxUsers` (ties broken by key: deterministic).
    private func evictUsers() {
        let order = users.map { ($0.value.lastSeenMs, $0.key) }.sorted { $0 < $1 }
        for (_, key) in order.prefix(users.count - maxUsers) { users.removeValue(forKey: key) }
    }
}

/// A user's decayed history summed over one or more attribute values of a feature slot.
private struct ValueHistory {
    var imp: Float = 0, clk: Float = 0, rImp: Float = 0, rClk: Float = 0
    var any = false

    @inline(__always) mutating func add(_ h: UserHistory, _ key: UInt64, _ nowMs: Int64, _ store: CrossFeatureStore) {
        guard let e = h.slotOf[key] else { return }
        let j = Int(e)
        let f = store.decay(h.updatedMs[j], nowMs)
        imp += h.impressions[j] * f
        clk += h.clicks[j] * f
        rImp = max(rImp, store.recency(h.lastImpressionMs[j], nowMs))
        rClk = max(rClk, store.recency(h.lastClickMs[j], nowMs))
        any = true
    }

    /// The slot's five features (lanes 0-4): log impressions, log clicks, smoothed click-rate
    /// lift, recencies of the last impression and click.
    @inline(__always) func features(_ store: CrossFeatureStore) -> SIMD8<Float> {
        let p0 = store.priorCTR, a = store.smoothing
        return SIMD8(log1pf(imp), log1pf(clk), logf((clk + a * p0) / (imp + a)) - logf(p0), rImp, rClk, 0, 0, 0)
    }

    @inline(__always) func write(into o: UnsafeMutablePointer<Float>, _ store: CrossFeatureStore) {
        let f = features(store)
        for k in 0..<5 { o[k] = f[k] }
    }
}
