import HSNNModel
import HSNNOps

/// The model's configuration keys (`model.*`, `index.*`, `training.*`) in the daemon's
/// configuration schema, and the ``ModelConfig`` they produce.
public enum ModelSettings {
    /// The full schema of `hsnn run`: the operational sections plus every model key.
    public static let schema: ConfigSchema = {
        let defaults = ModelConfig()
        var bySection: [String: [ConfigKey]] = [:]
        for (path, help) in ModelConfig.keys where path != "training.batch_size" {
            let text = defaults.text(of: path)
            let section = String(path.prefix { $0 != "." })
            bySection[section, default: []].append(ConfigKey(
                path, type(of: text), default: value(text), doc: help.isEmpty ? describe(path) : help))
        }
        var schema = ConfigSchema.hsnn
        schema = schema.adding(ConfigSection("model", doc: """
            The MoNN towers, embeddings and online cross features (see docs/model.md).
            """, keys: bySection["model"] ?? []))
        schema = schema.adding(ConfigSection("index", doc: """
            The jointly learned hierarchical index: levels, codebooks, beam widths, the temperature schedule and \
            the balance, warm-up and reconstruction terms (see docs/model.md).
            """, keys: bySection["index"] ?? []))
        let operational = ConfigSchema.hsnn.sections.first { $0.name == "training" }?.keys ?? []
        schema = schema.adding(ConfigSection("training", doc: """
            Joined examples are trained in mini-batches on a dedicated thread.
            """, keys: operational + (bySection["training"] ?? [])))
        return schema
    }()

    /// The model configuration a loaded daemon configuration describes.
    /// - Throws: ``ModelConfigError`` naming the key whose value the model refuses.
    public static func modelConfig(from configuration: Configuration) throws -> ModelConfig {
        var config = ModelConfig()
        for (path, _) in ModelConfig.keys {
            let text: String
            switch configuration.value(path) {
            case .int(let v): text = String(v)
            case .double(let v): text = String(v)
            case .bool(let v): text = String(v)
            case .string(let v): text = v
            default: continue
            }
            try config.set(path, text)
        }
        try config.validate()
        return config
    }

    private static func type(of text: String) -> ConfigValueType {
        if Int(text) != nil { return .int }
        if Double(text) != nil { return .double }
        if text == "true" || text == "false" { return .bool }
        return .string
    }

    private static func value(_ text: String) -> ConfigValue {
        if let v = Int(text) { return .int(v) }
        if let v = Double(text) { return .double(v) }
        if text == "true" || text == "false" { return .bool(text == "true") }
        return .string(text)
    }

    private static func describe(_ path: String) -> String {
        let name = path.split(separator: ".").last.map { String($0).replacing("_", with: " ") } ?? path
        return "The model's \(name) (see docs/model.md)."
    }
}

extension ModelConfig {
    /// The text form of key `path` (the inverse of ``set(_:_:)``).
    func text(of path: String) -> String {
        func list(_ v: [Int]) -> String { "[" + v.map(String.init).joined(separator: ", ") + "]" }
        switch path {
        case "model.kind": return kind.rawValue
        case "model.embedding_dim": return "\(embeddingDim)"
        case "model.hash_buckets": return "\(hashBuckets)"
        case "model.max_user_fields": return "\(maxUserFields)"
        case "model.max_item_fields": return "\(maxItemFields)"
        case "model.max_dense_features": return "\(maxDenseFeatures)"
        case "model.max_item_values": return "\(maxItemValues)"
        case "model.dim": return "\(dim)"
        case "model.item_user_rows": return "\(itemLevel.userRows)"
        case "model.item_item_rows": return "\(itemLevel.itemRows)"
        case "model.item_tower_hidden": return list(itemLevel.towerHidden)
        case "model.item_interaction_hidden": return list(itemLevel.interactionHidden)
        case "model.item_over_hidden": return list(itemLevel.overHidden)
        case "model.index_user_rows": return "\(indexLevel.userRows)"
        case "model.index_item_rows": return "\(indexLevel.itemRows)"
        case "model.index_tower_hidden": return list(indexLevel.towerHidden)
        case "model.index_interaction_hidden": return list(indexLevel.interactionHidden)
        case "model.index_over_hidden": return list(indexLevel.overHidden)
        case "model.layer_norm": return "\(layerNorm)"
        case "model.cross_half_life_ms": return "\(crossHalfLifeMs)"
        case "model.recency_scale_ms": return "\(recencyScaleMs)"
        case "model.cross_max_values_per_user": return "\(crossMaxValuesPerUser)"
        case "model.cross_max_users": return "\(crossMaxUsers)"
        case "index.levels": return "\(levels)"
        case "index.nodes": return list(nodes)
        case "index.dim": return "\(indexDim)"
        case "index.beam": return list(beam)
        case "index.max_alpha": return "\(maxAlpha)"
        case "index.min_alpha": return "\(minAlpha)"
        case "index.alpha_exponent": return "\(alphaExponent)"
        case "index.schedule_events": return "\(scheduleEvents)"
        case "index.warmup_fraction": return "\(warmupFraction)"
        case "index.loss_weight": return "\(indexLossWeight)"
        case "index.balance_weight": return "\(balanceWeight)"
        case "index.balance_window": return "\(balanceWindow)"
        case "index.reconstruction_weight": return "\(reconstructionWeight)"
        case "index.auxiliary_weight": return "\(auxiliaryWeight)"
        case "index.remap_every_batches": return "\(remapEveryBatches)"
        case "index.codebook_learning_rate_scale": return "\(codebookLearningRateScale)"
        case "index.restart_move_share": return "\(restartMoveShare)"
        case "index.restart_fraction": return "\(restartFraction)"
        case "index.attribute_weight": return "\(attributeWeight)"
        case "index.node_cross_features": return "\(nodeCrossFeatures)"
        case "index.signature_popularity": return "\(signaturePopularity)"
        case "training.batch_size": return "\(batchSize)"
        case "training.learning_rate": return "\(learningRate)"
        case "training.embedding_learning_rate": return "\(embeddingLearningRate)"
        case "training.gradient_clip": return "\(gradientClip)"
        case "training.seed": return "\(seed)"
        case "training.positive_weight": return "\(positiveWeight)"
        case "index.beam_min_items_per_k": return "\(beamMinItemsPerK)"
        case "training.retrieval_negatives": return "\(retrievalNegatives)"
        case "training.retrieval_uniform_share": return "\(retrievalUniformShare)"
        case "training.retrieval_weight": return "\(retrievalWeight)"
        case "training.retrieval_index_levels": return "\(retrievalIndexLevels)"
        case "training.negative_memory": return "\(negativeMemory)"
        case "training.frequency_alpha": return "\(frequencyAlpha)"
        default: preconditionFailure("ModelConfig key \(path) has no text form; add it to text(of:)")
        }
    }
}
