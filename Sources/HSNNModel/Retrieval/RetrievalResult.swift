/// How ``RetrievalModel/retrieve(_:k:mode:excluding:excludeSeen:)`` searches.
public enum RetrievalMode: Sendable, Hashable {
    /// Beam search down the index; `widths` per index level (nil: the configured beam).
    case beam(widths: [Int]?)
    /// Score every live item with the full model (the reference).
    case exhaustive
}

/// One retrieved item and its logit.
public struct ScoredItem: Sendable, Hashable, Codable {
    /// The item's id in the catalog.
    public var itemID: String
    /// Its logit under the ranking head.
    public var score: Float
}

/// Top-K items of a retrieval, best first, and the work it took.
public struct RetrievalResult: Sendable, Hashable {
    /// The retrieved items, best first.
    public var items: [ScoredItem]
    /// Items scored by the item-level model.
    public var itemsScored: Int
    /// Index nodes scored by the level models.
    public var nodesScored: Int
    /// Exhaustive mode only: for each returned item, the 0-based rank of its level-1 node in
    /// the level-1 ordering that beam search uses (how wide the first beam must be to reach it).
    public var firstLevelRanks: [Int] = []
}
