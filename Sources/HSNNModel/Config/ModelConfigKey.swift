import Foundation

/// One configuration key of ``ModelConfig``: its dotted name, its documentation, and how its
/// field is read as text and set from text.
///
/// ``ModelConfig/keyTable`` lists every key once; ``ModelConfig/keys``,
/// ``ModelConfig/set(_:_:)`` and the text form of each key all derive from it.
public struct ModelConfigKey: Sendable {
    /// The key as written in files and `--set` overrides (`section.key`, e.g. `index.nodes`).
    public let key: String
    /// A short description of the key; empty when the name says it all.
    public let help: String
    private let read: @Sendable (ModelConfig) -> String
    private let write: @Sendable (inout ModelConfig, _ value: String, _ text: String, _ key: String) throws(ModelConfigError) -> Void

    private init(
        _ key: String, _ help: String, read: @escaping @Sendable (ModelConfig) -> String,
        write: @escaping @Sendable (inout ModelConfig, String, String, String) throws(ModelConfigError) -> Void
    ) {
        self.key = key
        self.help = help
        self.read = read
        self.write = write
    }

    /// The key's value in `config` as text (the inverse of ``set(_:in:)``).
    public func text(in config: ModelConfig) -> String { read(config) }

    /// Sets the key in `config` from its text form (`[256,16]`, `0.01`, `two_tower`).
    /// - Throws: ``ModelConfigError`` naming the key when the value does not parse.
    public func set(_ text: String, in config: inout ModelConfig) throws(ModelConfigError) {
        let value = text.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        try write(&config, value, text, key)
    }

    // MARK: - Kinds of key

    /// An integer (`_` separators allowed).
    static func int(_ key: String, _ path: any WritableKeyPath<ModelConfig, Int> & Sendable, _ help: String = "") -> ModelConfigKey {
        ModelConfigKey(key, help, read: { "\($0[keyPath: path])" }) { config, value, text, key throws(ModelConfigError) in
            guard let x = Int(value.replacingOccurrences(of: "_", with: "")) else { throw .badValue(key, text, "an integer") }
            config[keyPath: path] = x
        }
    }

    /// A number (`_` separators allowed).
    static func double(_ key: String, _ path: any WritableKeyPath<ModelConfig, Double> & Sendable, _ help: String = "") -> ModelConfigKey {
        ModelConfigKey(key, help, read: { "\($0[keyPath: path])" }) { config, value, text, key throws(ModelConfigError) in
            guard let x = Double(value.replacingOccurrences(of: "_", with: "")) else { throw .badValue(key, text, "a number") }
            config[keyPath: path] = x
        }
    }

    /// `true`/`1`/`yes` or `false`/`0`/`no`.
    static func bool(_ key: String, _ path: any WritableKeyPath<ModelConfig, Bool> & Sendable, _ help: String = "") -> ModelConfigKey {
        ModelConfigKey(key, help, read: { "\($0[keyPath: path])" }) { config, value, text, key throws(ModelConfigError) in
            switch value {
            case "true", "1", "yes": config[keyPath: path] = true
            case "false", "0", "no": config[keyPath: path] = false
            default: throw .badValue(key, text, "true or false")
            }
        }
    }

    /// A list of integers written `[256, 16]` (brackets optional, `_` separators allowed).
    static func ints(_ key: String, _ path: any WritableKeyPath<ModelConfig, [Int]> & Sendable, _ help: String = "") -> ModelConfigKey {
        ModelConfigKey(key, help, read: { "[" + $0[keyPath: path].map(String.init).joined(separator: ", ") + "]" }) {
            config, value, text, key throws(ModelConfigError) in
            let body = value.trimmingCharacters(in: CharacterSet(charactersIn: "[] "))
            var out: [Int] = []
            if !body.isEmpty {
                for part in body.split(separator: ",") {
                    guard let x = Int(part.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "_", with: "")) else {
                        throw .badValue(key, text, "a list of integers like [256, 16]")
                    }
                    out.append(x)
                }
            }
            config[keyPath: path] = out
        }
    }

    /// A ``ModelKind`` by its raw value.
    static func kind(_ key: String, _ path: any WritableKeyPath<ModelConfig, ModelKind> & Sendable, _ help: String = "") -> ModelConfigKey {
        ModelConfigKey(key, help, read: { $0[keyPath: path].rawValue }) { config, value, text, key throws(ModelConfigError) in
            guard let kind = ModelKind(rawValue: value) else { throw .badValue(key, text, "hsnn or two_tower") }
            config[keyPath: path] = kind
        }
    }

    /// A non-negative integer (no separators).
    static func unsigned(_ key: String, _ path: any WritableKeyPath<ModelConfig, UInt64> & Sendable, _ help: String = "") -> ModelConfigKey {
        ModelConfigKey(key, help, read: { "\($0[keyPath: path])" }) { config, value, text, key throws(ModelConfigError) in
            guard let x = UInt64(value) else { throw .badValue(key, text, "a non-negative integer") }
            config[keyPath: path] = x
        }
    }
}
