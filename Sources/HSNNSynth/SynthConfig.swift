/// Everything that shapes a synthetic stream. Same configuration, same stream, on every run.
///
/// The defaults describe a stream a 2-core machine trains in a few minutes: 5,000 users,
/// 20,000 items born and expired over 30 days, 1,000,000 impressions in sessions of about
/// 10, an overall click-through rate near 5%.
public struct SynthConfig: Sendable, Hashable {
    /// Seeds every random draw of the generator.
    public var seed: UInt64 = 1

    // MARK: Sizes and time

    /// Number of users.
    public var numUsers: Int = 5_000
    /// Number of items over the whole stream (some live at the start, the rest born later).
    public var numItems: Int = 20_000
    /// Number of impressions in the stream (catalog and click events come on top).
    public var numImpressions: Int = 1_000_000
    /// Timestamp of the first event, in milliseconds since the Unix epoch (2023-11-14).
    public var startMs: Int64 = 1_700_000_000_000
    /// Length of the stream in event time (30 days).
    public var durationMs: Int64 = 30 * 86_400_000
    /// Mean number of impressions per session (one `request_id` per session).
    public var meanSessionLength: Double = 10

    // MARK: Labels

    /// Overall click-through rate the click model is calibrated to (0.001 ... 0.5).
    public var targetCTR: Double = 0.05
    /// Emit impressions without `clicked` plus separate click events (for the joiner)
    /// instead of labelled impressions.
    public var emitClickEvents: Bool = false
    /// Mean delay between an impression and its click event, when click events are emitted.
    public var meanClickDelayMs: Double = 5_000

    // MARK: Catalog

    /// Number of item categories (`category`, one per item).
    public var numCategories: Int = 30
    /// Number of genres (`genre`, 1 to 3 per item).
    public var numGenres: Int = 30
    /// Number of creators (`creator`, one per item; popularity is Zipf-distributed over creators).
    /// Fixed, not scaled with ``numItems``: raise it with the catalog if creators should stay small.
    public var numCreators: Int = 500
    /// Number of price tiers (`price_tier`).
    public var numPriceTiers: Int = 4
    /// Share of items already live when the stream starts (their upserts come first).
    public var initialItemFraction: Double = 0.3
    /// Share of items that never expire.
    public var neverExpireFraction: Double = 0.2
    /// Mean lifetime of an expiring item (exponential on top of a one-day minimum).
    public var meanItemLifetimeMs: Double = 10 * 86_400_000
    /// Spread of the log-normal item popularity prior (larger: heavier tail).
    public var popularitySigma: Double = 1.2

    // MARK: Users

    /// Number of user segments (`segment`); segments drive the segment x category x price effect.
    public var numSegments: Int = 6
    /// Number of countries (`country`).
    public var numCountries: Int = 20
    /// Mean number of interest shifts per user over the stream (a shift replaces favourite genres).
    public var driftsPerUser: Double = 2.0

    // MARK: Serving policy and click model

    /// Where the items of a session come from.
    public var policy: ServingPolicy = ServingPolicy()
    /// Strength of each term of the click model.
    public var effects: ClickEffects = ClickEffects()

    /// The default configuration with the given seed.
    public init(seed: UInt64 = 1) { self.seed = seed }

    /// Checks the sizes and rates.
    /// - Throws: ``SynthConfigError`` naming the first field out of range and its valid range.
    public func validate() throws(SynthConfigError) {
        func require(_ ok: Bool, _ field: String, _ valid: String) throws(SynthConfigError) {
            if !ok { throw SynthConfigError(field: field, validRange: valid) }
        }
        try require(numUsers >= 1 && numUsers <= 100_000_000, "numUsers", "1 ... 100,000,000")
        try require(numItems >= 1 && numItems <= 100_000_000, "numItems", "1 ... 100,000,000")
        try require(numImpressions >= 0, "numImpressions", ">= 0")
        try require(durationMs >= 1, "durationMs", ">= 1")
        try require(meanSessionLength >= 1 && meanSessionLength <= 1_000, "meanSessionLength", "1 ... 1000")
        try require(targetCTR >= 0.001 && targetCTR <= 0.5, "targetCTR", "0.001 ... 0.5")
        try require(meanClickDelayMs >= 0, "meanClickDelayMs", ">= 0")
        try require(numCategories >= 1 && numCategories <= 250, "numCategories", "1 ... 250")
        try require(numGenres >= 3 && numGenres <= 250, "numGenres", "3 ... 250")
        try require(numCreators >= 1 && numCreators <= 10_000_000, "numCreators", "1 ... 10,000,000")
        try require(numPriceTiers >= 1 && numPriceTiers <= 20, "numPriceTiers", "1 ... 20")
        try require(initialItemFraction > 0 && initialItemFraction <= 1, "initialItemFraction", "(0, 1]")
        try require(neverExpireFraction >= 0 && neverExpireFraction <= 1, "neverExpireFraction", "0 ... 1")
        try require(meanItemLifetimeMs >= 0, "meanItemLifetimeMs", ">= 0")
        try require(popularitySigma >= 0 && popularitySigma <= 5, "popularitySigma", "0 ... 5")
        try require(numSegments >= 1 && numSegments <= 250, "numSegments", "1 ... 250")
        try require(numCountries >= 1 && numCountries <= 1_000, "numCountries", "1 ... 1000")
        try require(driftsPerUser >= 0 && driftsPerUser <= 50, "driftsPerUser", "0 ... 50")
        let p = policy
        try require(p.popular >= 0 && p.interest >= 0 && p.explore >= 0 && p.popular + p.interest + p.explore > 0,
                    "policy", "non-negative weights with a positive sum")
    }
}

/// Mix of sources a session's items are drawn from, among the items live at the time.
///
/// Weights are relative; each impression picks its source independently.
public struct ServingPolicy: Sendable, Hashable {
    /// Draw in proportion to item popularity.
    public var popular: Double = 0.35
    /// Draw from the user's current favourite genres and creators (a personalised recommender).
    public var interest: Double = 0.40
    /// Draw uniformly from all live items (exploration).
    public var explore: Double = 0.25

    public init(popular: Double = 0.35, interest: Double = 0.40, explore: Double = 0.25) {
        self.popular = popular
        self.interest = interest
        self.explore = explore
    }
}

/// Weights of the click model's logit terms (see ``SyntheticStream/trueClickProbability(user:item:at:exposureLoad:)``).
public struct ClickEffects: Sendable, Hashable {
    /// Spread of the per-user click propensity (normal, on the logit).
    public var userPropensitySigma: Double = 0.4
    /// Logit added per favourite genre the item has (times a per-user weight in [0.75, 1.25]).
    public var genreAffinity: Double = 1.2
    /// Logit added when the item's creator is one of the user's favourite creators.
    public var creatorAffinity: Double = 1.8
    /// Logit added when the item's category is one the user dislikes (negative).
    public var dislikedCategory: Double = -1.5
    /// Logit added by a segment's favourite (category, price tier) combinations (a quarter of the
    /// categories each have one favourite tier); the same category at the other tiers gets half
    /// of it, negated.
    public var segmentInteraction: Double = 2.0
    /// Logit per standard deviation of the item's log popularity.
    public var popularity: Double = 0.4
    /// Logit bonus of a brand-new item, decaying with item age.
    public var freshness: Double = 0.5
    /// Decay time of the freshness bonus.
    public var freshnessDecayMs: Double = 2 * 86_400_000
    /// Spread of the country x category effect (a normal draw per pair, on the logit).
    public var countryCategorySigma: Double = 0.25
    /// Amplitude of the slow periodic trend of each category.
    public var trendAmplitude: Double = 0.3
    /// Period of the category trends.
    public var trendPeriodMs: Double = 14 * 86_400_000
    /// Logit removed per unit of exposure load: each of the user's 16 most recent impressions
    /// that showed the same item adds `exp(-age / fatigueDecayMs)` to the load.
    public var fatigue: Double = 0.8
    /// Decay time of an exposure's contribution to fatigue.
    public var fatigueDecayMs: Double = 2 * 86_400_000

    public init() {}
}

/// A ``SynthConfig`` field out of range.
public struct SynthConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The offending field.
    public var field: String
    /// The values it accepts.
    public var validRange: String

    public var description: String {
        "synthetic stream configuration: \(field) is out of range; use a value in \(validRange)"
    }
}
