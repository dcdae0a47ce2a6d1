import Foundation

/// Range checks of every model, index and training key, and the memory estimate checked
/// before anything is allocated.
extension ModelConfig {
    /// Largest width of an embedding, a tower output or a hidden layer.
    static let maxWidth = 8192
    /// Largest number of hidden layers in one tower.
    static let maxHiddenLayers = 16
    /// Share of physical memory the model may plan to take at start.
    static let memoryShare = 0.9

    /// Checks every key's range and how the keys fit together, then that the memory the
    /// model allocates at start fits in `physicalMemory` bytes.
    /// - Throws: ``ModelConfigError`` naming the first key out of range, with its value and
    ///   what is accepted.
    public func validate(physicalMemory: UInt64) throws(ModelConfigError) {
        try validateRanges()
        let estimate = memoryEstimate()
        let budget = Double(physicalMemory) * Self.memoryShare
        if estimate.total > budget {
            throw ModelConfigError(key: estimate.largestKey, message: """
                the model would need about \(Self.bytes(estimate.total)) at start (\(estimate.largestKey) alone \
                \(Self.bytes(estimate.largest))), more than \(Int(Self.memoryShare * 100))% of this machine's \
                \(Self.bytes(Double(physicalMemory))) of physical memory; lower \(estimate.largestKey) \
                or the widths it multiplies
                """)
        }
    }

    /// Bytes the model allocates when it is created, and the key behind the largest part.
    ///
    /// Counts the hashed embedding tables (values, gradients, Adagrad accumulators), the
    /// dense tower weights with their Adam state, the index codebooks and the per-batch
    /// workspaces. Catalog, cross features and joiner state grow with the stream and are
    /// bounded by their own keys, so they are not part of it.
    public func memoryEstimate() -> (total: Double, largest: Double, largestKey: String) {
        let e = Double(embeddingDim)
        var parts: [(String, Double)] = []
        // Two tables: values and gradients (Float), one accumulator per row, one touched flag.
        parts.append(("model.hash_buckets", 2 * Double(hashBuckets) * (8 * e + 5)))
        let userWidth = Double(1 + maxUserFields) * e + Double(maxDenseFeatures)
        let itemWidth = Double(1 + maxItemFields) * e + Double(maxDenseFeatures)
        let crossWidth = Double(CrossFeatureStore.width(itemSlots: 1 + maxItemFields))
        let d = Double(dim)
        // Dense weights: value, gradient and two Adam moments (Float).
        func chain(_ input: Double, _ hidden: [Int], _ output: Double) -> Double {
            var total = 0.0
            var width = input
            for h in hidden {
                total += (width + 1) * Double(h)
                width = Double(h)
            }
            return total + (width + 1) * output
        }
        func monn(_ size: MoNNSize, user: Double, item: Double, interaction: Double) -> Double {
            let tower = chain(user, size.towerHidden, Double(size.userRows) * d)
                + chain(item, size.towerHidden, Double(size.itemRows) * d)
                + chain(interaction, size.interactionHidden, d)
            let overInputs = Double(size.userRows * size.itemRows) + d
            return 16 * (tower + chain(overInputs, size.overHidden, Double(MoNN.heads)))
        }
        let indexLevels = Double(max(0, levels - 1))
        parts.append(("model.item_tower_hidden", monn(itemLevel, user: userWidth, item: itemWidth, interaction: crossWidth)))
        parts.append(("model.index_tower_hidden", indexLevels * monn(
            indexLevel, user: userWidth, item: Double(indexDim) + itemWidth,
            interaction: userWidth + Double(indexDim) + itemWidth + crossWidth)))
        let codebooks = nodes.prefix(max(0, levels - 1)).reduce(0.0) { $0 + Double($1) }
        parts.append(("index.nodes", 16 * codebooks * Double(indexDim)))
        // Workspaces: a few dozen batch-sized matrices of the widest inputs, per level.
        let widest = max(userWidth, itemWidth + Double(indexDim), Double(maxHiddenWidth), codebooks)
        // A step holds the impressions and, for every click, its retrieval negatives.
        parts.append(("training.batch_size", 4 * 48 * (indexLevels + 1) * Double(batchSize * (1 + retrievalNegatives)) * widest))
        let total = parts.reduce(0) { $0 + $1.1 }
        let largest = parts.max { $0.1 < $1.1 } ?? ("model.hash_buckets", 0)
        return (total, largest.1, largest.0)
    }

    private var maxHiddenWidth: Int {
        (itemLevel.towerHidden + itemLevel.interactionHidden + itemLevel.overHidden
            + indexLevel.towerHidden + indexLevel.interactionHidden + indexLevel.overHidden).max() ?? 0
    }

    private func validateRanges() throws(ModelConfigError) {
        func check<T: Comparable>(_ key: String, _ value: T, _ range: ClosedRange<T>) throws(ModelConfigError) {
            if !range.contains(value) {
                throw .badValue(key, "\(value)", "\(range.lowerBound)...\(range.upperBound)")
            }
        }
        func positive(_ key: String, _ value: Double) throws(ModelConfigError) {
            if !(value.isFinite && value > 0) { throw .badValue(key, "\(value)", "a finite number > 0") }
        }
        func nonNegative(_ key: String, _ value: Double) throws(ModelConfigError) {
            if !(value.isFinite && value >= 0) { throw .badValue(key, "\(value)", "a finite number >= 0") }
        }
        func fraction(_ key: String, _ value: Double) throws(ModelConfigError) {
            if !(value >= 0 && value <= 1) { throw .badValue(key, "\(value)", "a number from 0 to 1") }
        }
        func widths(_ key: String, _ list: [Int]) throws(ModelConfigError) {
            if list.count > Self.maxHiddenLayers || !list.allSatisfy({ (1...Self.maxWidth).contains($0) }) {
                throw .badValue(key, Self.list(list), "a list of at most \(Self.maxHiddenLayers) widths, each 1...\(Self.maxWidth), like [64]")
            }
        }
        // model
        try check("model.embedding_dim", embeddingDim, 1...1024)
        try check("model.click_prior_strength", clickPriorStrength, 0...1_000_000)
        try check("model.hash_buckets", hashBuckets, 16...Int(Int32.max))
        try check("model.max_user_fields", maxUserFields, 1...256)
        try check("model.max_item_fields", maxItemFields, 1...256)
        try check("model.max_dense_features", maxDenseFeatures, 0...1024)
        try check("model.max_item_values", maxItemValues, 1...65_536)
        try check("model.dim", dim, 1...1024)
        try check("model.item_user_rows", itemLevel.userRows, 1...256)
        try check("model.item_item_rows", itemLevel.itemRows, 1...256)
        try widths("model.item_tower_hidden", itemLevel.towerHidden)
        try widths("model.item_interaction_hidden", itemLevel.interactionHidden)
        try widths("model.item_over_hidden", itemLevel.overHidden)
        try check("model.index_user_rows", indexLevel.userRows, 1...256)
        try check("model.index_item_rows", indexLevel.itemRows, 1...256)
        try widths("model.index_tower_hidden", indexLevel.towerHidden)
        try widths("model.index_interaction_hidden", indexLevel.interactionHidden)
        try widths("model.index_over_hidden", indexLevel.overHidden)
        try positive("model.cross_half_life_ms", crossHalfLifeMs)
        try positive("model.recency_scale_ms", recencyScaleMs)
        try check("model.cross_max_values_per_user", crossMaxValuesPerUser, 1...1_000_000)
        try check("model.cross_max_users", crossMaxUsers, 1...1_000_000_000)
        // index
        try check("index.levels", levels, 2...3)
        try check("index.dim", indexDim, 1...1024)
        if nodes.count < levels - 1 || !nodes.allSatisfy({ (2...1_048_576).contains($0) }) {
            throw .badValue("index.nodes", Self.list(nodes),
                            "at least \(levels - 1) codebook sizes (one per index level), each 2...1048576, like [1024, 16]")
        }
        if beam.count < levels - 1 || !beam.allSatisfy({ (1...1_048_576).contains($0) }) {
            throw .badValue("index.beam", Self.list(beam),
                            "at least \(levels - 1) beam widths (one per index level), each 1...1048576, like [64, 64]")
        }
        try positive("index.max_alpha", maxAlpha)
        try positive("index.min_alpha", minAlpha)
        if minAlpha > maxAlpha {
            throw .badValue("index.min_alpha", "\(minAlpha)", "at most index.max_alpha (\(maxAlpha))")
        }
        try nonNegative("index.alpha_exponent", alphaExponent)
        try check("index.schedule_events", scheduleEvents, 1...Int.max)
        try fraction("index.warmup_fraction", warmupFraction)
        try nonNegative("index.loss_weight", indexLossWeight)
        try nonNegative("index.balance_weight", balanceWeight)
        try check("index.balance_window", balanceWindow, 1...1_000_000)
        try nonNegative("index.reconstruction_weight", reconstructionWeight)
        try nonNegative("index.auxiliary_weight", auxiliaryWeight)
        try check("index.remap_every_batches", remapEveryBatches, 0...Int.max)
        try nonNegative("index.codebook_learning_rate_scale", codebookLearningRateScale)
        try fraction("index.restart_move_share", restartMoveShare)
        try fraction("index.restart_fraction", restartFraction)
        try check("index.beam_min_items_per_k", beamMinItemsPerK, 0...1_000_000)
        try check("index.beam_head_share", beamHeadShare, 0...1)
        try check("index.beam_head_per_k", beamHeadPerK, 0...1_000_000)
        try nonNegative("index.attribute_weight", attributeWeight)
        // training
        try check("training.batch_size", batchSize, 1...65_536)
        try positive("training.learning_rate", learningRate)
        try positive("training.embedding_learning_rate", embeddingLearningRate)
        try nonNegative("training.gradient_clip", gradientClip)
        try positive("training.positive_weight", positiveWeight)
        try check("training.retrieval_negatives", retrievalNegatives, 0...1024)
        try fraction("training.retrieval_uniform_share", retrievalUniformShare)
        try nonNegative("training.retrieval_weight", retrievalWeight)
        try check("training.negative_memory", negativeMemory, 1...16_777_216)
        if !(frequencyAlpha > 0 && frequencyAlpha <= 1) {
            throw .badValue("training.frequency_alpha", "\(frequencyAlpha)", "a number in (0, 1]")
        }
    }

    static func bytes(_ value: Double) -> String {
        let units = ["bytes", "KB", "MB", "GB", "TB", "PB", "EB"]
        var v = value
        var unit = 0
        while v >= 1000, unit < units.count - 1 {
            v /= 1000
            unit += 1
        }
        return unit == 0 ? "\(Int(v)) bytes" : "\(String(format: "%.1f", v)) \(units[unit])"
    }

    static func list(_ values: [Int]) -> String { "[" + values.map(String.init).joined(separator: ", ") + "]" }
}
