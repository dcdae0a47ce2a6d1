extension ModelConfig {
    /// Every configuration key of the model, the index and the trainer, in documentation order:
    /// the one place a key is declared (its name, its field and its help). Defaults are the
    /// fields' initial values.
    public static let keyTable: [ModelConfigKey] = [
        .kind("model.kind", \.kind, "hsnn | two_tower"),
        .int("model.embedding_dim", \.embeddingDim, "embedding width"),
        .int("model.hash_buckets", \.hashBuckets, "rows per hashed table"),
        .int("model.max_user_fields", \.maxUserFields, "categorical user feature slots"),
        .int("model.max_item_fields", \.maxItemFields, "categorical item feature slots"),
        .int("model.max_dense_features", \.maxDenseFeatures, "numeric features per side"),
        .int("model.max_item_values", \.maxItemValues, "values stored per item"),
        .int("model.dim", \.dim, "tower output width d"),
        .int("model.item_user_rows", \.itemLevel.userRows, "item-level num_u"),
        .int("model.item_item_rows", \.itemLevel.itemRows, "item-level num_i"),
        .ints("model.item_tower_hidden", \.itemLevel.towerHidden, "item-level tower hidden widths"),
        .ints("model.item_interaction_hidden", \.itemLevel.interactionHidden),
        .ints("model.item_over_hidden", \.itemLevel.overHidden),
        .int("model.index_user_rows", \.indexLevel.userRows, "index-level num_u"),
        .int("model.index_item_rows", \.indexLevel.itemRows, "index-level num_i"),
        .ints("model.index_tower_hidden", \.indexLevel.towerHidden),
        .ints("model.index_interaction_hidden", \.indexLevel.interactionHidden),
        .ints("model.index_over_hidden", \.indexLevel.overHidden),
        .bool("model.layer_norm", \.layerNorm, "layer norm in hidden layers"),
        .bool("model.click_prior", \.clickPrior, "the item's lifetime click log-odds as the click logit's offset"),
        .double("model.click_prior_strength", \.clickPriorStrength,
                "pseudo-impressions that smooth an item's lifetime click rate; 0 = estimated from the stream"),
        .double("model.cross_half_life_ms", \.crossHalfLifeMs, "cross-feature half-life"),
        .double("model.recency_scale_ms", \.recencyScaleMs, "recency time scale"),
        .int("model.cross_max_values_per_user", \.crossMaxValuesPerUser),
        .int("model.cross_max_users", \.crossMaxUsers),
        .int("index.levels", \.levels, "2 or 3"),
        .ints("index.nodes", \.nodes, "codebook sizes"),
        .int("index.dim", \.indexDim, "node embedding width"),
        .ints("index.beam", \.beam, "beam per level"),
        .int("index.beam_min_items_per_k", \.beamMinItemsPerK,
             "the last level's beam widens until its leaves hold this many items per requested item"),
        .double("index.beam_head_share", \.beamHeadShare,
                "share of the live items beam search always scores: the model's favourites for a user it knows nothing about"),
        .int("index.beam_head_per_k", \.beamHeadPerK, "at most this many head items per requested item"),
        .double("index.max_alpha", \.maxAlpha),
        .double("index.min_alpha", \.minAlpha),
        .double("index.alpha_exponent", \.alphaExponent),
        .int("index.schedule_events", \.scheduleEvents, "temperature schedule length T"),
        .double("index.warmup_fraction", \.warmupFraction),
        .double("index.loss_weight", \.indexLossWeight),
        .double("index.balance_weight", \.balanceWeight),
        .int("index.balance_window", \.balanceWindow),
        .double("index.reconstruction_weight", \.reconstructionWeight),
        .double("index.auxiliary_weight", \.auxiliaryWeight),
        .int("index.remap_every_batches", \.remapEveryBatches),
        .double("index.codebook_learning_rate_scale", \.codebookLearningRateScale),
        .double("index.restart_move_share", \.restartMoveShare),
        .double("index.restart_fraction", \.restartFraction),
        .double("index.attribute_weight", \.attributeWeight, "attribute signature weight in item vectors"),
        .bool("index.node_cross_features", \.nodeCrossFeatures, "(user, node profile) cross features at index levels"),
        .bool("index.signature_popularity", \.signaturePopularity, "popularity code in the attribute signature"),
        .int("training.batch_size", \.batchSize),
        .double("training.learning_rate", \.learningRate),
        .double("training.embedding_learning_rate", \.embeddingLearningRate),
        .double("training.gradient_clip", \.gradientClip),
        .unsigned("training.seed", \.seed),
        .double("training.positive_weight", \.positiveWeight),
        .int("training.retrieval_negatives", \.retrievalNegatives,
             "sampled negatives per click for the retrieval objective (0 = click BCE only)"),
        .double("training.retrieval_uniform_share", \.retrievalUniformShare,
                "share of retrieval negatives drawn uniformly over live items"),
        .double("training.retrieval_weight", \.retrievalWeight, "weight of the retrieval objective"),
        .bool("training.retrieval_index_levels", \.retrievalIndexLevels,
              "train the index levels with the retrieval objective too"),
        .int("training.negative_memory", \.negativeMemory, "recent clicks kept for popularity-proportional negatives"),
        .double("training.frequency_alpha", \.frequencyAlpha, "step size of the streaming click-frequency estimator"),
    ]

    /// Configuration keys with their documentation (for `--set` and files), in ``keyTable`` order.
    public static var keys: [(key: String, help: String)] { keyTable.map { ($0.key, $0.help) } }

    private static let keysByName: [String: ModelConfigKey] =
        Dictionary(uniqueKeysWithValues: keyTable.map { ($0.key, $0) })

    /// The entry of `key`, if the model has such a key.
    public static func key(_ key: String) -> ModelConfigKey? { keysByName[key] }

    /// Sets `key` (e.g. `index.nodes`) from its text form (`[256,16]`, `0.01`, `two_tower`).
    /// - Throws: ``ModelConfigError`` naming the key when it is unknown or the value does not parse.
    public mutating func set(_ key: String, _ text: String) throws(ModelConfigError) {
        guard let entry = Self.keysByName[key] else { throw .unknownKey(key) }
        try entry.set(text, in: &self)
    }

    /// The text form of `key` (the inverse of ``set(_:_:)``), or `nil` for an unknown key.
    public func text(of key: String) -> String? { Self.keysByName[key]?.text(in: self) }
}
