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
/// listed in ``keys`` (e.g. `model.kind`, `index.nodes`, `training.batch_size`).
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
    public var beam: [Int] = [64, 64]
    /// The last index level's beam widens, in rank order, until its leaves hold at least this
    /// many items per item requested (`k`), so a small catalog or a sparse region of the index
    /// still yields enough candidates.
    public var beamMinItemsPerK: Int = 8
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

    /// Configuration keys with their documentation (for `--set` and files).
    public static let keys: [(key: String, help: String)] = [
        ("model.kind", "hsnn | two_tower"),
        ("model.embedding_dim", "embedding width"), ("model.hash_buckets", "rows per hashed table"),
        ("model.max_user_fields", "categorical user feature slots"), ("model.max_item_fields", "categorical item feature slots"),
        ("model.max_dense_features", "numeric features per side"), ("model.max_item_values", "values stored per item"),
        ("model.dim", "tower output width d"),
        ("model.item_user_rows", "item-level num_u"), ("model.item_item_rows", "item-level num_i"),
        ("model.item_tower_hidden", "item-level tower hidden widths"), ("model.item_interaction_hidden", ""),
        ("model.item_over_hidden", ""),
        ("model.index_user_rows", "index-level num_u"), ("model.index_item_rows", "index-level num_i"),
        ("model.index_tower_hidden", ""), ("model.index_interaction_hidden", ""), ("model.index_over_hidden", ""),
        ("model.layer_norm", "layer norm in hidden layers"),
        ("model.cross_half_life_ms", "cross-feature half-life"), ("model.recency_scale_ms", "recency time scale"),
        ("model.cross_max_values_per_user", ""), ("model.cross_max_users", ""),
        ("index.levels", "2 or 3"), ("index.nodes", "codebook sizes"), ("index.dim", "node embedding width"),
        ("index.beam", "beam per level"),
        ("index.beam_min_items_per_k", "the last level's beam widens until its leaves hold this many items per requested item"), ("index.max_alpha", ""), ("index.min_alpha", ""), ("index.alpha_exponent", ""),
        ("index.schedule_events", "temperature schedule length T"), ("index.warmup_fraction", ""),
        ("index.loss_weight", ""), ("index.balance_weight", ""), ("index.balance_window", ""),
        ("index.reconstruction_weight", ""), ("index.auxiliary_weight", ""), ("index.remap_every_batches", ""), ("index.codebook_learning_rate_scale", ""),
        ("index.restart_move_share", ""), ("index.restart_fraction", ""),
        ("index.attribute_weight", "attribute signature weight in item vectors"),
        ("index.node_cross_features", "(user, node profile) cross features at index levels"),
        ("index.signature_popularity", "popularity code in the attribute signature"),
        ("training.batch_size", ""), ("training.learning_rate", ""), ("training.embedding_learning_rate", ""),
        ("training.gradient_clip", ""), ("training.seed", ""), ("training.positive_weight", ""),
        ("training.retrieval_negatives", "sampled negatives per click for the retrieval objective (0 = click BCE only)"),
        ("training.retrieval_uniform_share", "share of retrieval negatives drawn uniformly over live items"),
        ("training.retrieval_weight", "weight of the retrieval objective"),
        ("training.retrieval_index_levels", "train the index levels with the retrieval objective too"),
        ("training.negative_memory", "recent clicks kept for popularity-proportional negatives"),
        ("training.frequency_alpha", "step size of the streaming click-frequency estimator"),
    ]

    /// Sets `key` (e.g. `index.nodes`) from its text form (`[256,16]`, `0.01`, `two_tower`).
    /// - Throws: ``ModelConfigError`` naming the key when it is unknown or the value does not parse.
    public mutating func set(_ key: String, _ text: String) throws(ModelConfigError) {
        let v = text.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        func int() throws(ModelConfigError) -> Int {
            guard let x = Int(v.replacingOccurrences(of: "_", with: "")) else { throw .badValue(key, text, "an integer") }
            return x
        }
        func double() throws(ModelConfigError) -> Double {
            guard let x = Double(v.replacingOccurrences(of: "_", with: "")) else { throw .badValue(key, text, "a number") }
            return x
        }
        func ints() throws(ModelConfigError) -> [Int] {
            let body = v.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
            if body.isEmpty { return [] }
            var out: [Int] = []
            for part in body.split(separator: ",") {
                guard let x = Int(part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")) else {
                    throw .badValue(key, text, "a list of integers like [256, 16]")
                }
                out.append(x)
            }
            return out
        }
        func bool() throws(ModelConfigError) -> Bool {
            switch v { case "true", "1", "yes": return true; case "false", "0", "no": return false
            default: throw .badValue(key, text, "true or false") }
        }
        switch key {
        case "model.kind":
            guard let k = ModelKind(rawValue: v) else { throw .badValue(key, text, "hsnn or two_tower") }
            kind = k
        case "model.embedding_dim": embeddingDim = try int()
        case "model.hash_buckets": hashBuckets = try int()
        case "model.max_user_fields": maxUserFields = try int()
        case "model.max_item_fields": maxItemFields = try int()
        case "model.max_dense_features": maxDenseFeatures = try int()
        case "model.max_item_values": maxItemValues = try int()
        case "model.dim": dim = try int()
        case "model.item_user_rows": itemLevel.userRows = try int()
        case "model.item_item_rows": itemLevel.itemRows = try int()
        case "model.item_tower_hidden": itemLevel.towerHidden = try ints()
        case "model.item_interaction_hidden": itemLevel.interactionHidden = try ints()
        case "model.item_over_hidden": itemLevel.overHidden = try ints()
        case "model.index_user_rows": indexLevel.userRows = try int()
        case "model.index_item_rows": indexLevel.itemRows = try int()
        case "model.index_tower_hidden": indexLevel.towerHidden = try ints()
        case "model.index_interaction_hidden": indexLevel.interactionHidden = try ints()
        case "model.index_over_hidden": indexLevel.overHidden = try ints()
        case "model.layer_norm": layerNorm = try bool()
        case "model.cross_half_life_ms": crossHalfLifeMs = try double()
        case "model.recency_scale_ms": recencyScaleMs = try double()
        case "model.cross_max_values_per_user": crossMaxValuesPerUser = try int()
        case "model.cross_max_users": crossMaxUsers = try int()
        case "index.levels": levels = try int()
        case "index.nodes": nodes = try ints()
        case "index.dim": indexDim = try int()
        case "index.beam": beam = try ints()
        case "index.beam_min_items_per_k": beamMinItemsPerK = try int()
        case "index.max_alpha": maxAlpha = try double()
        case "index.min_alpha": minAlpha = try double()
        case "index.alpha_exponent": alphaExponent = try double()
        case "index.schedule_events": scheduleEvents = try int()
        case "index.warmup_fraction": warmupFraction = try double()
        case "index.loss_weight": indexLossWeight = try double()
        case "index.balance_weight": balanceWeight = try double()
        case "index.balance_window": balanceWindow = try int()
        case "index.reconstruction_weight": reconstructionWeight = try double()
        case "index.auxiliary_weight": auxiliaryWeight = try double()
        case "index.remap_every_batches": remapEveryBatches = try int()
        case "index.codebook_learning_rate_scale": codebookLearningRateScale = try double()
        case "index.restart_move_share": restartMoveShare = try double()
        case "index.restart_fraction": restartFraction = try double()
        case "index.attribute_weight": attributeWeight = try double()
        case "index.node_cross_features": nodeCrossFeatures = try bool()
        case "index.signature_popularity": signaturePopularity = try bool()
        case "training.batch_size": batchSize = try int()
        case "training.learning_rate": learningRate = try double()
        case "training.embedding_learning_rate": embeddingLearningRate = try double()
        case "training.gradient_clip": gradientClip = try double()
        case "training.seed":
            guard let s = UInt64(v) else { throw .badValue(key, text, "a non-negative integer") }
            seed = s
        case "training.positive_weight": positiveWeight = try double()
        case "training.retrieval_negatives": retrievalNegatives = try int()
        case "training.retrieval_uniform_share": retrievalUniformShare = try double()
        case "training.retrieval_weight": retrievalWeight = try double()
        case "training.retrieval_index_levels": retrievalIndexLevels = try bool()
        case "training.negative_memory": negativeMemory = try int()
        case "training.frequency_alpha": frequencyAlpha = try double()
        default: throw .unknownKey(key)
        }
    }

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
