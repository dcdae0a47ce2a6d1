import HSNNEvents

/// The fixed part of a synthetic stream: catalog, users, their interest schedules and the
/// click model. Built once from the configuration; read-only afterwards.
///
/// Items are numbered in birth order and users `0 ..< numUsers`; their wire ids are these
/// numbers as decimal strings. Memory is O(users + items).
final class SyntheticWorld: Sendable {
    static let noGenre: UInt8 = .max
    static let genreSlots = 3
    static let creatorSlots = 3
    static let ageBuckets = ["<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+"]
    static let ageWeights = [0.05, 0.20, 0.28, 0.20, 0.10, 0.09, 0.08]
    static let segmentNames = ["bargain", "premium", "family", "student", "enthusiast", "casual"]

    let config: SynthConfig
    let endMs: Int64

    // MARK: Items (index = birth order)
    let itemCategory: [UInt8]
    /// `genreSlots` per item, `noGenre` when unused.
    let itemGenres: [UInt8]
    let itemCreator: [Int32]
    let itemPriceTier: [UInt8]
    let itemPrice: [Float]
    /// Standardised log popularity (mean 0, sd 1 over the catalog).
    let itemPopularityZ: [Float]
    /// Serving weight of the popularity source: `exp(popularitySigma * z)` (log-normal, heavy-tailed).
    let itemServingWeight: [Double]
    let itemBirthMs: [Int64]
    /// `Int64.max` for items that never expire.
    let itemExpiryMs: [Int64]
    /// Items whose expiry falls inside the stream, sorted by expiry time (ties by index).
    let expiryOrder: [Int32]

    // MARK: Users
    let userAge: [UInt8]
    let userGender: [UInt8]
    let userCountry: [UInt16]
    let userSegment: [UInt8]
    let userPropensity: [Float]
    /// Two disliked categories per user (may coincide).
    let userDisliked: [UInt8]
    let userFeatures: [Features]
    let userActivity: AliasTable
    /// Epochs of user `u` are `userEpochOffset[u] ..< userEpochOffset[u + 1]`.
    let userEpochOffset: [Int32]
    let epochStartMs: [Int64]
    /// `genreSlots` per epoch.
    let epochGenres: [UInt8]
    /// `genreSlots` per epoch: logit added when the item has that genre.
    let epochGenreWeight: [Float]
    /// `creatorSlots` per epoch.
    let epochCreators: [Int32]

    // MARK: Click model tables
    /// `[segment][category][priceTier]`, flattened.
    let segmentCategoryPrice: [Float]
    /// `[country][category]`, flattened.
    let countryCategory: [Float]
    let categoryTrendPhase: [Double]

    init(config: SynthConfig) {
        self.config = config
        let seed = config.seed
        endMs = config.startMs + config.durationMs
        let numItems = config.numItems, numUsers = config.numUsers
        let numCategories = config.numCategories, numGenres = config.numGenres
        let numTiers = config.numPriceTiers

        // Category- and genre-level structure.
        var rng = Xoshiro256StarStar(seed: seed, stream: 1)
        let categoryTable = AliasTable(weights: zipfWeights(numCategories, exponent: 0.8))
        let genreTable = AliasTable(weights: zipfWeights(numGenres, exponent: 0.7))
        // Each category favours a few genres and has its own price distribution.
        var categoryTypicalGenres = [[UInt8]]()
        var categoryPriceTables = [AliasTable]()
        for _ in 0..<numCategories {
            var typical = [UInt8]()
            while typical.count < min(4, numGenres) {
                let g = UInt8(rng.below(numGenres))
                if !typical.contains(g) { typical.append(g) }
            }
            categoryTypicalGenres.append(typical)
            categoryPriceTables.append(AliasTable(weights: (0..<numTiers).map { _ in 0.3 + rng.uniform() }))
        }
        // Creators: a home category, a quality that lifts their items' popularity, Zipf output.
        let creatorHome = (0..<config.numCreators).map { _ in UInt8(categoryTable.sample(&rng)) }
        let creatorQuality = (0..<config.numCreators).map { _ in rng.normal() }
        var creatorRankWeights = zipfWeights(config.numCreators, exponent: 0.9)
        for k in stride(from: creatorRankWeights.count - 1, to: 0, by: -1) {
            creatorRankWeights.swapAt(k, rng.below(k + 1))
        }
        let creatorTable = AliasTable(weights: creatorRankWeights)

        // Item birth times (sorted: item index = birth order) and expiries.
        var births = [Int64]()
        births.reserveCapacity(numItems)
        let initialCount = max(1, Int((Double(numItems) * config.initialItemFraction).rounded()))
        for n in 0..<numItems {
            if n < initialCount {
                births.append(config.startMs)
            } else {
                births.append(config.startMs + 1 + Int64(rng.uniform() * Double(config.durationMs - 1)))
            }
        }
        births.sort()
        let minLifetime = min(86_400_000.0, config.meanItemLifetimeMs / 10)
        var expiries = [Int64]()
        expiries.reserveCapacity(numItems)
        for n in 0..<numItems {
            if rng.bernoulli(config.neverExpireFraction) {
                expiries.append(.max)
            } else {
                let life = max(1, Int64(minLifetime + rng.exponential(mean: config.meanItemLifetimeMs)))
                expiries.append(births[n] + life)
            }
        }

        // Item attributes.
        var category = [UInt8](repeating: 0, count: numItems)
        var genres = [UInt8](repeating: Self.noGenre, count: numItems * Self.genreSlots)
        var creator = [Int32](repeating: 0, count: numItems)
        var tier = [UInt8](repeating: 0, count: numItems)
        var price = [Float](repeating: 0, count: numItems)
        var logPopularity = [Double](repeating: 0, count: numItems)
        for i in 0..<numItems {
            let c = creatorTable.sample(&rng)
            creator[i] = Int32(c)
            let cat = rng.bernoulli(0.75) ? Int(creatorHome[c]) : categoryTable.sample(&rng)
            category[i] = UInt8(cat)
            let u = rng.uniform()
            let genreCount = min(numGenres, u < 0.4 ? 1 : (u < 0.8 ? 2 : 3))
            var filled = 0
            while filled < genreCount {
                let typical = categoryTypicalGenres[cat]
                let g = rng.bernoulli(0.6) ? typical[rng.below(typical.count)] : UInt8(genreTable.sample(&rng))
                var seen = false
                for s in 0..<filled where genres[i * Self.genreSlots + s] == g { seen = true }
                if !seen {
                    genres[i * Self.genreSlots + filled] = g
                    filled += 1
                }
            }
            let t = categoryPriceTables[cat].sample(&rng)
            tier[i] = UInt8(t)
            price[i] = Float(Double(t + 1) * 10 * _exp(0.25 * rng.normal()))
            logPopularity[i] = 0.5 * creatorQuality[c] + 0.75.squareRoot() * rng.normal()
        }
        let meanLog = logPopularity.reduce(0, +) / Double(numItems)
        let varLog = logPopularity.reduce(0) { $0 + ($1 - meanLog) * ($1 - meanLog) } / Double(numItems)
        let sdLog = varLog > 0 ? varLog.squareRoot() : 1
        itemPopularityZ = logPopularity.map { Float(($0 - meanLog) / sdLog) }
        itemServingWeight = itemPopularityZ.map { _exp(config.popularitySigma * Double($0)) }
        itemCategory = category
        itemGenres = genres
        itemCreator = creator
        itemPriceTier = tier
        itemPrice = price
        itemBirthMs = births
        itemExpiryMs = expiries
        let end = endMs
        expiryOrder = (0..<numItems).filter { expiries[$0] <= end }.map { Int32($0) }
            .sorted { (expiries[Int($0)], $0) < (expiries[Int($1)], $1) }

        // Click model tables.
        var tables = Xoshiro256StarStar(seed: seed, stream: 2)
        let numSegments = config.numSegments
        var interaction = [Float](repeating: 0, count: numSegments * numCategories * numTiers)
        let hotPerSegment = max(1, numCategories / 4)
        let strength = config.effects.segmentInteraction
        for s in 0..<numSegments {
            for k in 0..<(numCategories * numTiers) {
                interaction[s * numCategories * numTiers + k] = Float(0.1 * tables.normal())
            }
            var hot = [Int]()
            while hot.count < hotPerSegment {
                let c = tables.below(numCategories)
                if !hot.contains(c) { hot.append(c) }
            }
            for c in hot {
                let favouriteTier = tables.below(numTiers)
                for p in 0..<numTiers {
                    let value = p == favouriteTier ? strength : -strength / 2
                    interaction[(s * numCategories + c) * numTiers + p] = Float(value)
                }
            }
        }
        segmentCategoryPrice = interaction
        countryCategory = (0..<(config.numCountries * numCategories)).map { _ in
            Float(config.effects.countryCategorySigma * tables.normal())
        }
        categoryTrendPhase = (0..<numCategories).map { _ in 2 * Double.pi * tables.uniform() }

        // Users: observable features, latent propensity, dislikes, activity, interest epochs.
        var users = Xoshiro256StarStar(seed: seed, stream: 3)
        let ageTable = AliasTable(weights: Self.ageWeights)
        let countryTable = AliasTable(weights: zipfWeights(config.numCountries, exponent: 1.0))
        let segmentTable = AliasTable(weights: zipfWeights(numSegments, exponent: 0.4))
        var age = [UInt8](), gender = [UInt8](), country = [UInt16](), segment = [UInt8]()
        var propensity = [Float](), disliked = [UInt8](), activity = [Double]()
        var features = [Features]()
        var epochOffset: [Int32] = [0]
        var epochStart = [Int64](), epochGenre = [UInt8](), epochWeight = [Float](), epochCreator = [Int32]()
        for _ in 0..<numUsers {
            let a = UInt8(ageTable.sample(&users))
            let g = UInt8(users.below(2))
            let co = UInt16(countryTable.sample(&users))
            let s = UInt8(segmentTable.sample(&users))
            age.append(a); gender.append(g); country.append(co); segment.append(s)
            propensity.append(Float(config.effects.userPropensitySigma * users.normal()))
            disliked.append(UInt8(users.below(numCategories)))
            disliked.append(UInt8(users.below(numCategories)))
            activity.append(_exp(users.normal()))
            features.append(Features([
                (name: "age", value: .string(Self.ageBuckets[Int(a)])),
                (name: "gender", value: .string(g == 0 ? "F" : "M")),
                (name: "country", value: .string(Self.countryName(Int(co)))),
                (name: "segment", value: .string(Self.segmentName(Int(s)))),
            ]))

            // Interest epochs: favourite genres (2-3) and creators (3), shifting at drift moments.
            var currentGenres = [UInt8]()
            let genreCount = min(numGenres - 1, users.bernoulli(0.5) ? 2 : 3)
            while currentGenres.count < genreCount {
                let g = UInt8(genreTable.sample(&users))
                if !currentGenres.contains(g) { currentGenres.append(g) }
            }
            var currentCreators = [Int32]()
            for _ in 0..<Self.creatorSlots { currentCreators.append(Int32(creatorTable.sample(&users))) }
            var moments = (0..<users.poisson(mean: config.driftsPerUser)).map { _ in
                config.startMs + 1 + Int64(users.uniform() * Double(config.durationMs - 1))
            }
            moments.sort()
            var epochTimes = [config.startMs]
            epochTimes.append(contentsOf: moments)
            for (e, time) in epochTimes.enumerated() {
                if e > 0 {
                    // A shift: each favourite genre is replaced with probability 0.6, at least one.
                    let forced = users.below(currentGenres.count)
                    for k in 0..<currentGenres.count where k == forced || users.bernoulli(0.6) {
                        var replacement: UInt8
                        repeat { replacement = UInt8(genreTable.sample(&users)) } while currentGenres.contains(replacement)
                        currentGenres[k] = replacement
                    }
                    if users.bernoulli(0.5) {
                        currentCreators[users.below(Self.creatorSlots)] = Int32(creatorTable.sample(&users))
                    }
                }
                epochStart.append(time)
                for k in 0..<Self.genreSlots {
                    if k < currentGenres.count {
                        epochGenre.append(currentGenres[k])
                        epochWeight.append(Float(config.effects.genreAffinity * (0.75 + 0.5 * users.uniform())))
                    } else {
                        epochGenre.append(Self.noGenre)
                        epochWeight.append(0)
                    }
                }
                epochCreator.append(contentsOf: currentCreators)
            }
            epochOffset.append(Int32(epochStart.count))
        }
        userAge = age
        userGender = gender
        userCountry = country
        userSegment = segment
        userPropensity = propensity
        userDisliked = disliked
        userFeatures = features
        userActivity = AliasTable(weights: activity)
        userEpochOffset = epochOffset
        epochStartMs = epochStart
        epochGenres = epochGenre
        epochGenreWeight = epochWeight
        epochCreators = epochCreator
    }

    static func countryName(_ c: Int) -> String { "C" + (c < 10 ? "0" : "") + String(c) }
    static func segmentName(_ s: Int) -> String { s < segmentNames.count ? segmentNames[s] : "segment\(s)" }
    static func categoryName(_ c: Int) -> String { "cat" + (c < 10 ? "0" : "") + String(c) }
    static func genreName(_ g: Int) -> String { "g" + (g < 10 ? "0" : "") + String(g) }
    static func creatorName(_ c: Int) -> String { "cr" + String(c) }

    // MARK: Queries

    /// The interest epoch of user `u` at time `t`.
    @inline(__always)
    func epoch(user u: Int, at t: Int64) -> Int {
        var e = Int(userEpochOffset[u])
        let end = Int(userEpochOffset[u + 1])
        while e + 1 < end && epochStartMs[e + 1] <= t { e += 1 }
        return e
    }

    /// Whether item `i` is live at `t` (born at or before `t`, expiring after `t`).
    @inline(__always)
    func isAlive(item i: Int, at t: Int64) -> Bool { itemBirthMs[i] <= t && t < itemExpiryMs[i] }

    /// The click logit of user `u` on item `i` at `t`, without the intercept and without fatigue.
    func baseLogit(user u: Int, item i: Int, at t: Int64) -> Double {
        let effects = config.effects
        let e = epoch(user: u, at: t)
        var logit = Double(userPropensity[u])
        // Idiosyncratic genre and creator affinities of the current epoch.
        for k in 0..<Self.genreSlots {
            let g = itemGenres[i * Self.genreSlots + k]
            if g == Self.noGenre { break }
            for f in 0..<Self.genreSlots where epochGenres[e * Self.genreSlots + f] == g {
                logit += Double(epochGenreWeight[e * Self.genreSlots + f])
            }
        }
        let c = itemCreator[i]
        for f in 0..<Self.creatorSlots where epochCreators[e * Self.creatorSlots + f] == c {
            logit += effects.creatorAffinity
            break
        }
        let cat = Int(itemCategory[i])
        if userDisliked[2 * u] == cat || userDisliked[2 * u + 1] == cat { logit += effects.dislikedCategory }
        // Segment x category x price tier: not additive in any pair of the three.
        let tiers = config.numPriceTiers
        logit += Double(segmentCategoryPrice[(Int(userSegment[u]) * config.numCategories + cat) * tiers
            + Int(itemPriceTier[i])])
        logit += Double(countryCategory[Int(userCountry[u]) * config.numCategories + cat])
        logit += effects.popularity * Double(itemPopularityZ[i])
        let age = Double(max(0, t - itemBirthMs[i]))
        logit += effects.freshness * _exp(-age / effects.freshnessDecayMs)
        let phase = 2 * Double.pi * Double(t - config.startMs) / effects.trendPeriodMs
        logit += effects.trendAmplitude * _sin(phase + categoryTrendPhase[cat])
        return logit
    }

    /// Catalog features of item `i` (what its upsert event carries).
    func itemFeatures(_ i: Int) -> Features {
        var genreNames = [String]()
        for k in 0..<Self.genreSlots {
            let g = itemGenres[i * Self.genreSlots + k]
            if g == Self.noGenre { break }
            genreNames.append(Self.genreName(Int(g)))
        }
        return Features([
            (name: "category", value: .string(Self.categoryName(Int(itemCategory[i])))),
            (name: "genre", value: .strings(genreNames)),
            (name: "creator", value: .string(Self.creatorName(Int(itemCreator[i])))),
            (name: "price_tier", value: .string(String(itemPriceTier[i]))),
            (name: "price", value: .number((Double(itemPrice[i]) * 100).rounded() / 100)),
        ])
    }
}
