import Foundation

/// A free-form JSON value stored in a manifest: model and index configuration, index
/// statistics, metrics snapshots.
///
/// Integers are kept exact as `Int64`; other numbers are `Double` (a JSON number without a
/// fraction or exponent that fits in `Int64` reads back as ``int(_:)``).
public enum ManifestJSON: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([ManifestJSON])
    case object([String: ManifestJSON])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null; return }
        if let value = try? container.decode(Bool.self) { self = .bool(value); return }
        if let value = try? container.decode(Int64.self) { self = .int(value); return }
        if let value = try? container.decode(Double.self) { self = .double(value); return }
        if let value = try? container.decode(String.self) { self = .string(value); return }
        if let value = try? container.decode([ManifestJSON].self) { self = .array(value); return }
        if let value = try? container.decode([String: ManifestJSON].self) { self = .object(value); return }
        throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The member `key` of an object, else `nil`.
    public subscript(key: String) -> ManifestJSON? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// An empty object, the default for free-form manifest sections.
    public static let emptyObject = ManifestJSON.object([:])

    /// Nesting depth (a scalar is 1).
    var depth: Int {
        switch self {
        case .array(let values): 1 + (values.map(\.depth).max() ?? 0)
        case .object(let members): 1 + (members.values.map(\.depth).max() ?? 0)
        default: 1
        }
    }

    /// Every non-finite `Double` makes a manifest unencodable; `nil` when all are finite.
    var firstNonFinitePath: String? {
        switch self {
        case .double(let value): return value.isFinite ? nil : ""
        case .array(let values):
            for (i, value) in values.enumerated() { if let path = value.firstNonFinitePath { return "[\(i)]\(path)" } }
            return nil
        case .object(let members):
            for key in members.keys.sorted() { if let path = members[key]!.firstNonFinitePath { return ".\(key)\(path)" } }
            return nil
        default: return nil
        }
    }

    /// Leaves of the value as dotted paths (`model.dim`, `layers[2]`), sorted; empty
    /// objects and arrays are leaves too so that their appearance shows in a diff.
    public func flattened(prefix: String = "") -> [(path: String, value: ManifestJSON)] {
        switch self {
        case .object(let members) where !members.isEmpty:
            return members.keys.sorted().flatMap { key in
                members[key]!.flattened(prefix: prefix.isEmpty ? key : "\(prefix).\(key)")
            }
        case .array(let values) where !values.isEmpty:
            return values.enumerated().flatMap { i, value in value.flattened(prefix: "\(prefix)[\(i)]") }
        default:
            return [(prefix, self)]
        }
    }

    /// Compact JSON text of the value (keys sorted).
    public var jsonText: String {
        switch self {
        case .null: return "null"
        case .bool(let value): return value ? "true" : "false"
        case .int(let value): return String(value)
        case .double(let value): return value.isFinite ? "\(value)" : "\"\(value)\""
        case .string(let value):
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.withoutEscapingSlashes]
            return (try? encoder.encode(value)).flatMap { String(data: $0, encoding: .utf8) } ?? "\"\(value)\""
        case .array(let values): return "[" + values.map(\.jsonText).joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.keys.sorted().map { ManifestJSON.string($0).jsonText + ":" + members[$0]!.jsonText }.joined(separator: ",") + "}"
        }
    }
}

extension ManifestJSON: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    public init(nilLiteral: ()) { self = .null }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: ManifestJSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, ManifestJSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

/// A training counter: an exact integer (events trained, examples, steps) or a real
/// value (a running loss).
public enum CheckpointCounter: Sendable, Hashable, Codable, CustomStringConvertible {
    case int(Int64)
    case double(Double)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Int64.self) { self = .int(value); return }
        self = .double(try container.decode(Double.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        }
    }

    /// The value as a `Double` (exact for integers up to 2^53).
    public var doubleValue: Double {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        }
    }

    /// The value if it is an integer.
    public var intValue: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }

    public var description: String {
        switch self {
        case .int(let value): String(value)
        case .double(let value): "\(value)"
        }
    }
}

extension CheckpointCounter: ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral {
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
}
