import HSNNModel
import HSNNOps

/// The model's configuration keys (`model.*`, `index.*`, `training.*`) in the daemon's
/// configuration schema, and the ``ModelConfig`` they produce.
public enum ModelSettings {
    /// The full schema of `hsnn run`: the operational sections plus every model key.
    public static let schema: ConfigSchema = {
        let defaults = ModelConfig()
        var bySection: [String: [ConfigKey]] = [:]
        for entry in ModelConfig.keyTable where entry.key != "training.batch_size" {
            let (path, help) = (entry.key, entry.help)
            let text = entry.text(in: defaults)
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
        for entry in ModelConfig.keyTable {
            let text: String
            switch configuration.value(entry.key) {
            case .int(let v): text = String(v)
            case .double(let v): text = String(v)
            case .bool(let v): text = String(v)
            case .string(let v): text = v
            default: continue
            }
            try entry.set(text, in: &config)
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
