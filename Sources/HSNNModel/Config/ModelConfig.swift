import Foundation

/// Which model a ``RetrievalModel`` trains.
public enum ModelKind: String, Sendable, Hashable, Codable {
    /// MoNN with the jointly learned hierarchical index (the product).
    case hsnn
    /// The baseline: one user and one item embedding, dot product, exhaustive top-K.
    case twoTower = "two_tower"
}

/// Sizes of one MoNN (paper Table 5 uses `num_u x d`, `num_i x d`).
public struct MoNNSize: Sendable, Hashable, Codable {
    /// User tower output rows (`num_u`).
    public var userRows: Int
    /// Item tower output rows (`num_i`).
    public var itemRows: Int
    /// Hidden layer widths of the user and item towers.
    public var towerHidden: [Int]
    /// Hidden layer widths of the interaction tower.
    public var interactionHidden: [Int]
    /// Hidden layer widths of the over-arch MLP.
    public var overHidden: [Int]

    public init(userRows: Int, itemRows: Int, towerHidden: [Int], interactionHidden: [Int], overHidden: [Int]) {
        self.userRows = userRows
        self.itemRows = itemRows
        self.towerHidden = towerHidden
        self.interactionHidden = interactionHidden
        self.overHidden = overHidden
    }
}

/// Every setting of the model, the index and the trainer, with defaults that train at a useful
/// rate on a 2-core machine.
///
/// Keys in configuration files and `--set` overrides are `section.key` with the snake_case names
/// listed in ``keyTable`` (e.g. `model.kind`, `index.nodes`, `training.batch_size`).
public struct ModelConfig: Sendable, Hashable, Codable {
    // MARK: model
    public var kind: ModelKind = .hsnn
    /// Embedding width of every id and categorical value.
    public var embeddingDim: Int = 16
    /// Rows of the user-side and of the item-side hashed embedding tables.
    public var hashBuckets: Int = 1 << 18
    /// Categorical user features with their own pooled slot (more share the last slot).
    public var maxUserFields: Int = 6
    /// Categorical item features with their own pooled slot (more share the last slot).
    public var maxItemFields: Int = 6
    /// Numeric features (per side) kept as dense inputs.
    public var maxDenseFeatures: Int = 4
    /// Values stored per item across its categorical features (ids beyond are dropped).
    public var maxItemValues: Int = 12
    /// Tower output width `d`.
    public var dim: Int = 32
    /// The item-level MoNN (cheap, scores many items).
    public var itemLevel = MoNNSize(userRows: 4, itemRows: 2, towerHidden: [64], interactionHidden: [64], overHidden: [64])
    /// The index-level MoNNs (richer, score few nodes).
    public var indexLevel = MoNNSize(userRows: 8, itemRows: 4, towerHidden: [128], interactionHidden: [64], overHidden: [64])
    /// Layer normalisation in hidden layers.
    public var layerNorm: Bool = false
    /// Whether the item level's click logit carries the item's smoothed lifetime click
    /// log-odds as a fixed offset (HSNN only), so the towers learn how a user departs from the
    /// item's record. Model folders written before the key existed load with it off, as they
    /// were trained.
    public var clickPrior: Bool = true
    /// Pseudo-impressions at the prior click rate that smooth an item's lifetime click rate (its
    /// click prior and its lifetime click-rate feature); 0 estimates them from the stream (an
    /// empirical-Bayes fit over the items' lifetime counts, see
    /// ``RetrievalModel/priorStrengthEveryBatches``). Model folders written before the key
    /// existed load with 20, as they were trained.
    public var clickPriorStrength: Double = 0
    /// Half-life of the cross-feature counters (event time).
    public var crossHalfLifeMs: Double = 7 * 86_400_000
    /// Time scale of the recency features.
    public var recencyScaleMs: Double = 86_400_000
    /// Attribute values tracked per user (oldest evicted).
    public var crossMaxValuesPerUser: Int = 256
    /// Users tracked (least recently seen evicted).
    public var crossMaxUsers: Int = 1_000_000

    // MARK: index
    /// Total levels including the item level (2 or 3).
    public var levels: Int = 2
    /// Codebook size of each index level (`levels - 1` entries; level 2+ are residual codebooks).
    public var nodes: [Int] = [1024, 16]
    /// Width of the item vector `v` and node embeddings.
    public var indexDim: Int = 32
    /// Beam width per index level at serving.
    public var beam: [Int] = [32, 64]
    /// The last index level's beam widens, in rank order, until its leaves hold at least this
    /// many items per item requested (`k`), so a small catalog or a sparse region of the index
    /// still yields enough candidates.
    public var beamMinItemsPerK: Int = 8
    /// Share of the live items that beam search scores besides its leaves' items: those the
    /// model ranks highest for a user it knows nothing about (0 = none).
    public var beamHeadShare: Double = 0.06
    /// At most this many head items per requested item (`k`), so the head's cost does not grow
    /// with the corpus.
    public var beamHeadPerK: Int = 60
    public var maxAlpha: Double = 200
    public var minAlpha: Double = 20
    public var alphaExponent: Double = 1
    /// Schedule length `T` in trained events.
    public var scheduleEvents: Int = 400_000
    /// Share of the schedule over which the index-loss weight ramps up linearly.
    public var warmupFraction: Double = 0.1
    public var indexLossWeight: Double = 1
    public var balanceWeight: Double = 1
    /// Batches in the balance window.
    public var balanceWindow: Int = 16
    public var reconstructionWeight: Double = 0.5
    public var auxiliaryWeight: Double = 0
    /// Learning-rate multiplier of the node embeddings.
    public var codebookLearningRateScale: Double = 0.1
    /// Full re-mapping of every live item every this many batches.
    public var remapEveryBatches: Int = 200
    /// When a full re-mapping moves more than this share of items, the temperature schedule
    /// restarts softly at ``restartFraction`` of its length (0 disables).
    public var restartMoveShare: Double = 0
    public var restartFraction: Double = 0.5
    /// Weight of the attribute signature in the item vector `v` relative to the learned
    /// projection (0 = the projection alone). The signature is a fixed random code of the
    /// item's categorical values, each feature weighted by how much the item level's
    /// interaction tower uses that feature's cross features, so items that the per-user cross
    /// features treat alike share index nodes.
    public var attributeWeight: Double = 3
    /// Whether index levels also see the cross features of (user, node profile) (see `NodeProfiles`).
    public var nodeCrossFeatures: Bool = true
    /// Whether the attribute signature also codes the item's popularity (decayed clicks in
    /// powers of two), weighted like a feature slot by the interaction tower's use of the
    /// popularity cross features. Off by default: it helps where rankings follow popularity
    /// (MovieLens) and cost recall on the synthetic streams.
    public var signaturePopularity: Bool = false

    // MARK: training
    public var batchSize: Int = 256
    public var learningRate: Double = 2e-3
    public var embeddingLearningRate: Double = 0.05
    public var gradientClip: Double = 10
    public var seed: UInt64 = 7
    /// Sampled negatives per click for the retrieval objective (0 = click BCE only). Each click
    /// gets its own negatives, drawn from a mixture of live items (uniform) and recent clicks
    /// (popularity-proportional); see ``retrievalUniformShare``.
    public var retrievalNegatives: Int = 8
    /// Share of the retrieval negatives drawn uniformly over live items; the rest come from
    /// the memory of recent clicks.
    public var retrievalUniformShare: Double = 0.5
    /// Weight of the retrieval objective (sampled softmax with the log-Q correction) relative
    /// to the click BCE.
    public var retrievalWeight: Double = 0.5
    /// Whether the index levels are trained with the retrieval objective too (weighted by the
    /// index-loss warm-up like their click BCE).
    public var retrievalIndexLevels: Bool = true
    /// Clicks remembered for popularity-proportional negatives.
    public var negativeMemory: Int = 4096
    /// Step size of the streaming click-frequency estimator (the log-Q correction).
    public var frequencyAlpha: Double = 0.05
    /// Weight of positive examples in the loss.
    public var positiveWeight: Double = 1

    public init() {}

    /// Checks every key's range, how the keys fit together, and that the memory allocated at
    /// start fits in this machine's physical memory (see ``validate(physicalMemory:)``).
    /// - Throws: ``ModelConfigError`` naming the first key out of range.
    public func validate() throws(ModelConfigError) {
        try validate(physicalMemory: ProcessInfo.processInfo.physicalMemory)
    }
}

/// A configuration key that is unknown or has a bad value.
public struct ModelConfigError: Error, Sendable, Hashable, CustomStringConvertible {
    public var key: String
    public var message: String

    public static func unknownKey(_ key: String) -> ModelConfigError {
        ModelConfigError(key: key, message: "unknown configuration key `\(key)`; see docs/model.md for the keys")
    }

    public static func badValue(_ key: String, _ value: String, _ expected: String) -> ModelConfigError {
        ModelConfigError(key: key, message: "bad value `\(value)` for `\(key)`: expected \(expected)")
    }

    public var description: String { message }
}
