import HeapModule

/// One step of the simulation, before it is turned into an ``Event`` (no strings yet).
enum Emission {
    case upsert(item: Int, timestampMs: Int64)
    case delete(item: Int, timestampMs: Int64)
    case impression(SimulatedImpression)
    case click(PendingClick)
}

struct SimulatedImpression {
    /// Position of the impression in the stream (0-based); its event id is `e<ordinal>`.
    var ordinal: Int
    /// Session number (0-based); its request id is `r<session>`.
    var session: Int
    var user: Int
    var item: Int
    var timestampMs: Int64
    /// True click probability of this impression (fatigue included).
    var probability: Double
    /// Logit without the intercept (what calibration needs).
    var logitWithoutIntercept: Double
    var clicked: Bool
}

struct PendingClick: Comparable {
    var timestampMs: Int64
    var impressionOrdinal: Int
    var session: Int
    var user: Int
    var item: Int

    /// Clicks are emitted in time order, ties in the order of their impressions.
    static func < (a: PendingClick, b: PendingClick) -> Bool {
        (a.timestampMs, a.impressionOrdinal) < (b.timestampMs, b.impressionOrdinal)
    }

    static func == (a: PendingClick, b: PendingClick) -> Bool {
        (a.timestampMs, a.impressionOrdinal) == (b.timestampMs, b.impressionOrdinal)
    }
}

/// The mutable part of a synthetic stream: live items, sessions, exposure history, pending
/// clicks. Advances in event time; every structure is sized by users or items, never by events.
final class Simulation {
    static let exposureSlots = 16

    let world: SyntheticWorld
    let intercept: Double
    /// Queue click events (false when replaying to calibrate: only the logits matter).
    let emitClickEvents: Bool
    private let numImpressions: Int
    private let impressionSpacingMs: Double
    private let inSessionStepMs: Int64
    private let geometricLogQ: Double
    private let policyTotal: Double

    // Catalog cursors.
    private var nextBirth = 0
    private var nextExpiry = 0
    private let lastBirth: Int

    // Live items: a dense list for uniform draws, per-genre and per-creator lists for
    // interest draws, a Fenwick tree for popularity draws. Positions allow O(1) removal.
    private var live: [Int32] = []
    private var livePosition: [Int32]
    private var genreLive: [[Int32]]
    private var genreLivePosition: [Int32]
    private var creatorLive: [[Int32]]
    private var creatorLivePosition: [Int32]
    private var popularity: FenwickSampler

    // Sessions.
    private(set) var impressionsDone = 0
    private(set) var session = -1
    private var sessionUser = 0
    private var sessionRemaining = 0
    private var sessionPosition = 0
    private var sessionStartMs: Int64 = 0
    private var sessionItems: [Int32] = []
    /// Impression slots dropped because no item was live.
    private(set) var skippedImpressions = 0

    // Recent exposures per user (ring buffers), for fatigue.
    private var exposureItem: [Int32]
    private var exposureTime: [Int64]
    private var exposureNext: [UInt8]

    // Clicks waiting for their time, when click events are emitted.
    private var pendingClicks = Heap<PendingClick>()

    private var sessionRandom: Xoshiro256StarStar
    private var policyRandom: Xoshiro256StarStar
    private var clickRandom: Xoshiro256StarStar
    private var delayRandom: Xoshiro256StarStar

    init(world: SyntheticWorld, intercept: Double, replayOnly: Bool = false) {
        self.world = world
        self.intercept = intercept
        let config = world.config
        emitClickEvents = config.emitClickEvents && !replayOnly
        numImpressions = config.numImpressions
        impressionSpacingMs = Double(config.durationMs) / Double(config.numImpressions + 1)
        inSessionStepMs = max(0, min(1_500, Int64(impressionSpacingMs.rounded(.down))))
        // Session lengths: 1 + geometric with mean meanSessionLength - 1.
        let q = 1 - 1 / config.meanSessionLength
        geometricLogQ = q > 0 ? _log(q) : 0
        policyTotal = config.policy.popular + config.policy.interest + config.policy.explore

        let numItems = config.numItems
        var last = numItems
        while last > 0 && world.itemBirthMs[last - 1] > world.endMs { last -= 1 }
        lastBirth = last
        livePosition = [Int32](repeating: -1, count: numItems)
        genreLive = [[Int32]](repeating: [], count: config.numGenres)
        genreLivePosition = [Int32](repeating: -1, count: numItems * SyntheticWorld.genreSlots)
        creatorLive = [[Int32]](repeating: [], count: config.numCreators)
        creatorLivePosition = [Int32](repeating: -1, count: numItems)
        popularity = FenwickSampler(count: numItems)
        exposureItem = [Int32](repeating: -1, count: config.numUsers * Self.exposureSlots)
        exposureTime = [Int64](repeating: 0, count: config.numUsers * Self.exposureSlots)
        exposureNext = [UInt8](repeating: 0, count: config.numUsers)

        let seed = config.seed
        sessionRandom = Xoshiro256StarStar(seed: seed, stream: 10)
        policyRandom = Xoshiro256StarStar(seed: seed, stream: 11)
        clickRandom = Xoshiro256StarStar(seed: seed, stream: 12)
        delayRandom = Xoshiro256StarStar(seed: seed, stream: 13)
    }

    /// Number of items live right now.
    var liveCount: Int { live.count }

    // MARK: Time-ordered merge

    /// The next emission in time order, or nil at the end of the stream.
    ///
    /// Ties in time: upserts, then deletes, then clicks, then impressions, so an item born
    /// at `t` can be shown at `t` and an item expiring at `t` cannot.
    func next() -> Emission? {
        while true {
            let upsertMs = nextBirth < lastBirth ? world.itemBirthMs[nextBirth] : .max
            let deleteMs = nextExpiry < world.expiryOrder.count
                ? world.itemExpiryMs[Int(world.expiryOrder[nextExpiry])] : .max
            let clickMs = pendingClicks.min?.timestampMs ?? .max
            let impressionMs = impressionsDone < numImpressions ? nextImpressionMs() : .max
            if upsertMs == .max && deleteMs == .max && clickMs == .max && impressionMs == .max { return nil }

            if upsertMs <= deleteMs && upsertMs <= clickMs && upsertMs <= impressionMs {
                let item = nextBirth
                nextBirth += 1
                insertLive(item)
                return .upsert(item: item, timestampMs: upsertMs)
            }
            if deleteMs <= clickMs && deleteMs <= impressionMs {
                let item = Int(world.expiryOrder[nextExpiry])
                nextExpiry += 1
                removeLive(item)
                return .delete(item: item, timestampMs: deleteMs)
            }
            if clickMs <= impressionMs {
                return .click(pendingClicks.removeMin())
            }
            if let impression = makeImpression(at: impressionMs) { return .impression(impression) }
        }
    }

    private func nextImpressionMs() -> Int64 {
        if sessionRemaining > 0 {
            return sessionStartMs + Int64(sessionPosition) * inSessionStepMs
        }
        return world.config.startMs + Int64((Double(impressionsDone + 1) * impressionSpacingMs).rounded(.down))
    }

    // MARK: Impressions

    private func makeImpression(at timestampMs: Int64) -> SimulatedImpression? {
        if sessionRemaining == 0 {
            session += 1
            sessionUser = world.userActivity.sample(&sessionRandom)
            var length = 1
            if geometricLogQ < 0 {
                length += Int((_log(1 - sessionRandom.uniform()) / geometricLogQ).rounded(.down))
            }
            sessionRemaining = min(length, numImpressions - impressionsDone)
            sessionPosition = 0
            sessionStartMs = timestampMs
            sessionItems.removeAll(keepingCapacity: true)
        }
        let ordinal = impressionsDone
        impressionsDone += 1
        sessionRemaining -= 1
        sessionPosition += 1

        let user = sessionUser
        guard let item = chooseItem(user: user, at: timestampMs) else {
            skippedImpressions += 1
            return nil
        }
        sessionItems.append(Int32(item))

        let load = exposureLoad(user: user, item: item, at: timestampMs)
        let logit = world.baseLogit(user: user, item: item, at: timestampMs)
            - world.config.effects.fatigue * load
        let probability = sigmoid(logit + intercept)
        let clicked = clickRandom.uniform() < probability
        recordExposure(user: user, item: item, at: timestampMs)
        if clicked && emitClickEvents {
            let delay = 500 + delayRandom.exponential(mean: max(0, world.config.meanClickDelayMs - 500))
            pendingClicks.insert(PendingClick(timestampMs: timestampMs + Int64(delay), impressionOrdinal: ordinal,
                                   session: session, user: user, item: item))
        }
        return SimulatedImpression(ordinal: ordinal, session: session, user: user, item: item,
                                   timestampMs: timestampMs, probability: probability,
                                   logitWithoutIntercept: logit, clicked: clicked)
    }

    /// The serving policy: popular, interest-matching or random live items, no repeats in a session.
    private func chooseItem(user: Int, at t: Int64) -> Int? {
        if live.isEmpty { return nil }
        let policy = world.config.policy
        var candidate = 0
        for _ in 0..<8 {
            let r = policyRandom.uniform() * policyTotal
            if r < policy.popular {
                candidate = popularItem()
            } else if r < policy.popular + policy.interest {
                candidate = interestItem(user: user, at: t)
            } else {
                candidate = randomLiveItem()
            }
            if !sessionItems.contains(Int32(candidate)) { return candidate }
        }
        return candidate
    }

    @inline(__always)
    private func randomLiveItem() -> Int { Int(live[policyRandom.below(live.count)]) }

    private func popularItem() -> Int {
        let total = popularity.total
        guard total > 0 else { return randomLiveItem() }
        let item = popularity.find(policyRandom.uniform() * total)
        return livePosition[item] >= 0 ? item : randomLiveItem()
    }

    /// An item of one of the user's current favourite genres (the more popular of two draws)
    /// or of one of their favourite creators.
    private func interestItem(user: Int, at t: Int64) -> Int {
        let e = world.epoch(user: user, at: t)
        let byCreator = policyRandom.bernoulli(0.4)
        for attempt in 0..<2 {
            if byCreator == (attempt == 0) {
                let creator = Int(world.epochCreators[e * SyntheticWorld.creatorSlots
                    + policyRandom.below(SyntheticWorld.creatorSlots)])
                let list = creatorLive[creator]
                if !list.isEmpty { return Int(list[policyRandom.below(list.count)]) }
            } else {
                var slots = 0
                while slots < SyntheticWorld.genreSlots
                    && world.epochGenres[e * SyntheticWorld.genreSlots + slots] != SyntheticWorld.noGenre {
                    slots += 1
                }
                let genre = Int(world.epochGenres[e * SyntheticWorld.genreSlots + policyRandom.below(slots)])
                let list = genreLive[genre]
                if !list.isEmpty {
                    let a = Int(list[policyRandom.below(list.count)])
                    let b = Int(list[policyRandom.below(list.count)])
                    return world.itemServingWeight[a] >= world.itemServingWeight[b] ? a : b
                }
            }
        }
        return popularItem()
    }

    // MARK: Fatigue

    /// Sum over the user's recent exposures to `item` of `exp(-age / fatigueDecayMs)`.
    func exposureLoad(user: Int, item: Int, at t: Int64) -> Double {
        let base = user * Self.exposureSlots
        let decay = world.config.effects.fatigueDecayMs
        var load = 0.0
        for k in 0..<Self.exposureSlots where exposureItem[base + k] == Int32(item) {
            load += _exp(-Double(t - exposureTime[base + k]) / decay)
        }
        return load
    }

    private func recordExposure(user: Int, item: Int, at t: Int64) {
        let slot = Int(exposureNext[user])
        exposureItem[user * Self.exposureSlots + slot] = Int32(item)
        exposureTime[user * Self.exposureSlots + slot] = t
        exposureNext[user] = UInt8((slot + 1) % Self.exposureSlots)
    }

    // MARK: Live item sets

    private func insertLive(_ item: Int) {
        livePosition[item] = Int32(live.count)
        live.append(Int32(item))
        for k in 0..<SyntheticWorld.genreSlots {
            let g = world.itemGenres[item * SyntheticWorld.genreSlots + k]
            if g == SyntheticWorld.noGenre { break }
            genreLivePosition[item * SyntheticWorld.genreSlots + k] = Int32(genreLive[Int(g)].count)
            genreLive[Int(g)].append(Int32(item))
        }
        let creator = Int(world.itemCreator[item])
        creatorLivePosition[item] = Int32(creatorLive[creator].count)
        creatorLive[creator].append(Int32(item))
        popularity.set(item, weight: world.itemServingWeight[item])
    }

    private func removeLive(_ item: Int) {
        Self.swapRemove(&live, position: Int(livePosition[item])) { livePosition[Int($0)] = $1 }
        livePosition[item] = -1
        for k in 0..<SyntheticWorld.genreSlots {
            let g = world.itemGenres[item * SyntheticWorld.genreSlots + k]
            if g == SyntheticWorld.noGenre { break }
            let slot = item * SyntheticWorld.genreSlots + k
            Self.swapRemove(&genreLive[Int(g)], position: Int(genreLivePosition[slot])) { moved, position in
                // The moved item's slot for this genre.
                for j in 0..<SyntheticWorld.genreSlots
                    where world.itemGenres[Int(moved) * SyntheticWorld.genreSlots + j] == g {
                    genreLivePosition[Int(moved) * SyntheticWorld.genreSlots + j] = position
                }
            }
            genreLivePosition[slot] = -1
        }
        let creator = Int(world.itemCreator[item])
        Self.swapRemove(&creatorLive[creator], position: Int(creatorLivePosition[item])) {
            creatorLivePosition[Int($0)] = $1
        }
        creatorLivePosition[item] = -1
        popularity.set(item, weight: 0)
    }

    /// Removes `list[position]` by moving the last element into its place; `moved` learns the
    /// moved element's new position.
    private static func swapRemove(_ list: inout [Int32], position: Int, moved: (Int32, Int32) -> Void) {
        let last = list.count - 1
        if position != last {
            list[position] = list[last]
            moved(list[position], Int32(position))
        }
        list.removeLast()
    }
}
