/// One ranking of the evaluation (for offline analysis of what beam search misses).
public struct RankingRecord: Sendable, Hashable, Codable {
    public var userID: String
    /// Beam widths per index level; nil for exhaustive retrieval.
    public var beam: [Int]?
    /// Ranked item ids (items the user saw in training removed).
    public var items: [String]
    /// Items the user clicked in the test period and had not seen in training.
    public var truth: [String]
    public var itemsScored: Int
}

/// One point of the recall-versus-items-scored curve.
public struct BeamSweepPoint: Sendable, Hashable, Codable {
    public var beam: [Int]
    public var recall: Double
    public var itemsScoredPerUser: Double
    public var itemsScoredShare: Double
    public var recallOverExhaustive: Double
    /// Share of the exhaustive top-K that the beam also returns.
    public var overlapWithExhaustive: Double
    public var secondsPerUser: Double
}

/// What ``Evaluator/evaluate(_:options:)`` measured.
public struct EvaluationReport: Sendable, Hashable, Codable {
    public var users = 0
    public var testImpressions = 0
    public var liveItems = 0
    public var trainCTR = 0.0
    public var testLogLoss = 0.0
    public var ne = 0.0
    public var recall: [String: Double] = [:]
    public var exhaustiveRecall: [String: Double] = [:]
    public var popularityRecall: [String: Double] = [:]
    public var beamOverExhaustiveRecall = 0.0
    /// Share of the exhaustive top-K that beam search also returns (mean over users).
    public var beamOverlapWithExhaustive = 0.0
    public var exhaustiveSecondsPerUser = 0.0
    public var itemsScoredPerUser = 0.0
    public var itemsScoredShare = 0.0
    public var nodesScoredPerUser = 0.0
    public var exhaustiveItemsScoredPerUser = 0.0
    /// Share of the live items a perfect leaf ranker would score to keep 95% of the exhaustive
    /// top-K (the leaves holding those items, densest first): the floor that the index's
    /// clustering puts under beam search, whatever the node models learn.
    public var oracleLeafItemsShare = 0.0
    /// Median and 90th percentile over users of the level-1 beam width that keeps 95% of the
    /// user's exhaustive top-K (the items' level-1 node ranks).
    public var firstBeamFor95PercentOverlap: [Int] = []
    public var retrievalSecondsPerUser = 0.0
    public var beamSweep: [BeamSweepPoint] = []
    public init() {}
}
