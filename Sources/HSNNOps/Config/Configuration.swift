import HSNNSupport

/// A loaded, validated configuration: one value for every schema key, and where it came from.
///
/// Typed accessors take the key's dotted path. Asking for a key the schema does not define, or
/// with the wrong type, is a programming error and stops the program with a message naming it.
public struct Configuration: Sendable {
    public let schema: ConfigSchema
    /// Every key's value, by path.
    public let values: [String: ConfigValue]
    /// Which layer set each key last.
    public let sources: [String: ConfigSource]
    /// For string maps, which layer set each entry.
    public let mapEntrySources: [String: [String: ConfigSource]]

    init(
        schema: ConfigSchema, values: [String: ConfigValue], sources: [String: ConfigSource],
        mapEntrySources: [String: [String: ConfigSource]]
    ) {
        self.schema = schema
        self.values = values
        self.sources = sources
        self.mapEntrySources = mapEntrySources
    }

    /// The defaults of `schema`, as if nothing were set.
    public init(defaultsOf schema: ConfigSchema) {
        var values: [String: ConfigValue] = [:]
        var sources: [String: ConfigSource] = [:]
        for key in schema.keys {
            values[key.path] = key.defaultValue
            sources[key.path] = .defaultValue
        }
        self.init(schema: schema, values: values, sources: sources, mapEntrySources: [:])
    }

    /// The value at `path`.
    public func value(_ path: String) -> ConfigValue {
        guard let value = values[path] else { preconditionFailure("configuration key \(path) is not in the schema") }
        return value
    }

    /// Where the value at `path` came from.
    public func source(of path: String) -> ConfigSource { sources[path] ?? .defaultValue }

    public func string(_ path: String) -> String {
        guard case .string(let v) = value(path) else { typeMismatch(path, "string") }
        return v
    }

    /// A string key where empty means "off": `nil` when empty.
    public func optionalString(_ path: String) -> String? {
        let v = string(path)
        return v.isEmpty ? nil : v
    }

    public func int(_ path: String) -> Int {
        guard case .int(let v) = value(path), schema.key(path)?.type == .int else { typeMismatch(path, "integer") }
        return v
    }

    public func double(_ path: String) -> Double {
        guard case .double(let v) = value(path) else { typeMismatch(path, "number") }
        return v
    }

    public func bool(_ path: String) -> Bool {
        guard case .bool(let v) = value(path) else { typeMismatch(path, "boolean") }
        return v
    }

    public func duration(_ path: String) -> Duration {
        guard case .duration(let v) = value(path) else { typeMismatch(path, "duration") }
        return v
    }

    /// A duration key in whole milliseconds.
    public func milliseconds(_ path: String) -> Int64 { durationMilliseconds(duration(path)) }

    public func stringList(_ path: String) -> [String] {
        guard case .stringList(let v) = value(path) else { typeMismatch(path, "string list") }
        return v
    }

    public func stringMap(_ path: String) -> [String: String] {
        guard case .stringMap(let v) = value(path) else { typeMismatch(path, "string map") }
        return v
    }

    /// An octal-mode key as permission bits (e.g. `0o640`).
    public func fileMode(_ path: String) -> UInt32 {
        guard case .int(let v) = value(path), schema.key(path)?.type == .fileMode else { typeMismatch(path, "octal mode") }
        return UInt32(v)
    }

    private func typeMismatch(_ path: String, _ wanted: String) -> Never {
        preconditionFailure("configuration key \(path) is a \(schema.key(path)?.type.name ?? "missing key"), not a \(wanted)")
    }

    /// The effective configuration as TOML, one key per line with the layer that set it as a
    /// trailing comment; secrets are replaced by `"<redacted>"`.
    public func renderEffective() -> String {
        var out = ""
        for section in schema.sections {
            out += "[\(section.name)]\n"
            for key in section.keys {
                let name = key.path.dropFirst(section.name.count + 1)
                let source = "  # \(source(of: key.path))"
                if case .stringMap(let map) = value(key.path) {
                    if map.isEmpty { out += "\(name) = {}\(source)\n"; continue }
                    for entry in map.keys.sorted() {
                        let text = isSecretEntry(entry) ? "<redacted>" : map[entry]!
                        let entrySource = mapEntrySources[key.path]?[entry] ?? .defaultValue
                        out += "\(name).\(displayPath([entry])) = \(StringEscaping.quoted(text))  # \(entrySource)\n"
                    }
                } else {
                    let text = key.isSecret ? StringEscaping.quoted("<redacted>") : renderTOML(value(key.path), type: key.type)
                    out += "\(name) = \(text)\(source)\n"
                }
            }
            out += "\n"
        }
        return out
    }
}

func isSecretEntry(_ name: String) -> Bool {
    let lower = name.lowercased()
    return ["password", "secret", "token"].contains { lower.contains($0) }
}

/// A TOML literal for `value` (durations in the key's unit, modes as octal strings).
func renderTOML(_ value: ConfigValue, type: ConfigValueType) -> String {
    switch value {
    case .string(let v): return StringEscaping.quoted(v)
    case .int(let v):
        if type == .fileMode { return StringEscaping.quoted("0" + String(v, radix: 8)) }
        return String(v)
    case .double(let v): return String(v)
    case .bool(let v): return v ? "true" : "false"
    case .duration(let v):
        let ms = durationMilliseconds(v)
        if type == .seconds {
            return ms % 1000 == 0 ? String(ms / 1000) : StringEscaping.quoted("\(ms)ms")
        }
        return String(ms)
    case .stringList(let v): return "[" + v.map { StringEscaping.quoted($0) }.joined(separator: ", ") + "]"
    case .stringMap(let v):
        if v.isEmpty { return "{}" }
        return "{ " + v.keys.sorted().map { "\(displayPath([$0])) = \(StringEscaping.quoted(v[$0]!))" }.joined(separator: ", ") + " }"
    }
}
