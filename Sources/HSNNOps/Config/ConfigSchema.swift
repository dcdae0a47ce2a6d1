import Foundation
import HSNNSupport

/// The kind of value a configuration key holds, which decides how file, environment and
/// flag text is parsed and how the key is documented.
public enum ConfigValueType: Sendable, Hashable {
    /// Any string.
    case string
    /// A signed integer.
    case int
    /// A finite floating-point number (integers are accepted too).
    case double
    /// `true` or `false` (environment and flags also accept `1/0`, `yes/no`, `on/off`).
    case bool
    /// A duration whose bare numbers count milliseconds; strings with a unit (`"1500ms"`, `"30s"`, `"10m"`, `"2h"`, `"1d"`) are accepted.
    case milliseconds
    /// A duration whose bare numbers count seconds; strings with a unit are accepted as for ``milliseconds``.
    case seconds
    /// A list of strings: a TOML array, or comma-separated text in the environment and flags.
    case stringList
    /// Free-form `name = "value"` pairs passed through as they are (for example librdkafka properties).
    case stringMap
    /// A Unix permission mode written in octal: `"0640"` (string) or `0o640` (TOML octal integer).
    case fileMode

    /// Short name used in documentation and errors.
    public var name: String {
        switch self {
        case .string: "string"
        case .int: "integer"
        case .double: "number"
        case .bool: "boolean"
        case .milliseconds: "duration (ms)"
        case .seconds: "duration (s)"
        case .stringList: "string list"
        case .stringMap: "string map"
        case .fileMode: "octal mode"
        }
    }

    /// What text this type accepts, phrased for an operator reading an error.
    public var accepted: String {
        switch self {
        case .string: "a string"
        case .int: "an integer"
        case .double: "a finite number"
        case .bool: "true or false"
        case .milliseconds:
            "a whole number of milliseconds, or a string with a unit such as \"1500ms\", \"30s\", \"10m\", \"2h\""
        case .seconds:
            "a whole number of seconds, or a string with a unit such as \"1500ms\", \"30s\", \"10m\", \"2h\""
        case .stringList: "an array of strings (comma-separated in the environment and flags)"
        case .stringMap: "a table of name = value pairs"
        case .fileMode: "an octal permission mode such as \"0640\" (or the TOML integer 0o640)"
        }
    }
}

/// A parsed configuration value.
public enum ConfigValue: Sendable, Hashable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case duration(Duration)
    case stringList([String])
    case stringMap([String: String])
}

/// A validation rule of a key beyond its type, with a description of what it accepts.
public struct ConfigConstraint: Sendable {
    /// What the rule accepts, e.g. `"0...65535"` or `"one of: logfmt, json"`.
    public let accepted: String
    private let check: @Sendable (ConfigValue) -> Bool

    /// Creates a rule from a predicate and the operator-facing description of what passes it.
    public init(accepted: String, check: @escaping @Sendable (ConfigValue) -> Bool) {
        self.accepted = accepted
        self.check = check
    }

    /// Whether `value` satisfies the rule.
    public func accepts(_ value: ConfigValue) -> Bool { check(value) }

    /// An integer (or octal mode) within `range`.
    public static func range(_ range: ClosedRange<Int>) -> ConfigConstraint {
        ConfigConstraint(accepted: "\(range.lowerBound)...\(range.upperBound)") { value in
            if case .int(let v) = value { return range.contains(v) }
            return false
        }
    }

    /// An integer of at least `minimum`.
    public static func atLeast(_ minimum: Int) -> ConfigConstraint {
        ConfigConstraint(accepted: ">= \(minimum)") { value in
            if case .int(let v) = value { return v >= minimum }
            return false
        }
    }

    /// A number within `range`.
    public static func range(_ range: ClosedRange<Double>) -> ConfigConstraint {
        ConfigConstraint(accepted: "\(range.lowerBound)...\(range.upperBound)") { value in
            if case .double(let v) = value { return range.contains(v) }
            return false
        }
    }

    /// A duration within `range`.
    public static func range(_ range: ClosedRange<Duration>) -> ConfigConstraint {
        ConfigConstraint(accepted: "\(formatDuration(range.lowerBound))...\(formatDuration(range.upperBound))") { value in
            if case .duration(let v) = value { return range.contains(v) }
            return false
        }
    }

    /// A duration of at least `minimum`.
    public static func atLeast(_ minimum: Duration) -> ConfigConstraint {
        ConfigConstraint(accepted: ">= \(formatDuration(minimum))") { value in
            if case .duration(let v) = value { return v >= minimum }
            return false
        }
    }

    /// A string equal to one of `choices`.
    public static func oneOf(_ choices: [String]) -> ConfigConstraint {
        ConfigConstraint(accepted: "one of: \(choices.joined(separator: ", "))") { value in
            if case .string(let v) = value { return choices.contains(v) }
            return false
        }
    }

    /// Permission bits only (at most `0777`: no setuid, setgid or sticky bit).
    public static let permissionBits = ConfigConstraint(accepted: "at most 0777 (no setuid, setgid or sticky bit)") { value in
        if case .int(let v) = value { return (0...0o777).contains(v) }
        return false
    }

    /// A non-empty string or list.
    public static let nonEmpty = ConfigConstraint(accepted: "not empty") { value in
        switch value {
        case .string(let v): !v.isEmpty
        case .stringList(let v): !v.isEmpty
        case .stringMap(let v): !v.isEmpty
        default: true
        }
    }
}

/// One documented configuration key.
public struct ConfigKey: Sendable {
    /// The dotted path, e.g. `kafka.brokers`. Segments are bare TOML keys (letters, digits, `_`, `-`).
    public let path: String
    public let type: ConfigValueType
    /// The value used when no source sets the key.
    public let defaultValue: ConfigValue
    /// One or two sentences for operators: what it does, units, what `0`/empty means.
    public let doc: String
    /// Rules beyond the type; all must pass.
    public let constraints: [ConfigConstraint]
    /// Secret values are redacted when the effective configuration is printed. Entries of a
    /// ``ConfigValueType/stringMap`` whose name contains `password`, `secret` or `token` are
    /// always redacted.
    public let isSecret: Bool

    /// Creates a key; `defaultValue` must have the key's type and satisfy its constraints.
    public init(
        _ path: String, _ type: ConfigValueType, default defaultValue: ConfigValue, doc: String,
        constraints: [ConfigConstraint] = [], isSecret: Bool = false
    ) {
        self.path = path
        self.type = type
        self.defaultValue = defaultValue
        self.doc = doc
        self.constraints = constraints
        self.isSecret = isSecret
    }

    var segments: [Substring] { path.split(separator: ".") }
}

/// A named group of keys (`kafka`, `http`, ...) with a short introduction for the docs.
public struct ConfigSection: Sendable {
    /// The first path segment every key of the section starts with.
    public let name: String
    /// Introduction printed above the section's table.
    public let doc: String
    public let keys: [ConfigKey]

    public init(_ name: String, doc: String, keys: [ConfigKey]) {
        self.name = name
        self.doc = doc
        self.keys = keys
    }
}

/// Every key the program accepts, as data: loading, validation, environment names and the
/// documentation all derive from it, so they cannot drift apart.
///
/// Add a section with ``adding(_:)``. Construction checks the schema itself (unique paths
/// and environment names, no key nested under another, defaults valid) and stops the
/// program on a mistake, since a broken schema is a programming error.
public struct ConfigSchema: Sendable {
    public let sections: [ConfigSection]
    /// Prefix of the environment variables that override keys, e.g. `HSNN_`.
    public let environmentPrefix: String
    let keysByPath: [String: ConfigKey]
    let keysByEnvironment: [String: ConfigKey]

    /// Creates and checks a schema.
    public init(sections: [ConfigSection], environmentPrefix: String = "HSNN_") {
        self.sections = sections
        self.environmentPrefix = environmentPrefix
        var byPath: [String: ConfigKey] = [:]
        var byEnvironment: [String: ConfigKey] = [:]
        for section in sections {
            for key in section.keys {
                let segments = key.segments
                precondition(segments.first.map(String.init) == section.name,
                             "config key \(key.path) is listed under section \(section.name)")
                precondition(segments.allSatisfy { !$0.isEmpty && $0.allSatisfy(isBareKeyCharacter) },
                             "config key \(key.path) must use bare TOML segments")
                precondition(byPath[key.path] == nil, "config key \(key.path) is defined twice")
                let variable = Self.environmentVariable(for: key.path, prefix: environmentPrefix)
                precondition(byEnvironment[variable] == nil,
                             "config keys \(key.path) and \(byEnvironment[variable]!.path) share \(variable)")
                precondition(ConfigValueParser.matches(key.defaultValue, key.type),
                             "default of config key \(key.path) is not a \(key.type.name)")
                precondition(key.constraints.allSatisfy { $0.accepts(key.defaultValue) },
                             "default of config key \(key.path) violates its constraints")
                byPath[key.path] = key
                byEnvironment[variable] = key
            }
        }
        for path in byPath.keys {
            var prefix = Substring(path)
            while let dot = prefix.lastIndex(of: ".") {
                prefix = prefix[..<dot]
                precondition(byPath[String(prefix)] == nil, "config key \(path) is nested under key \(prefix)")
            }
        }
        self.keysByPath = byPath
        self.keysByEnvironment = byEnvironment
    }

    /// A schema with `section` appended (or replacing a section of the same name).
    public func adding(_ section: ConfigSection) -> ConfigSchema {
        var sections = self.sections.filter { $0.name != section.name }
        sections.append(section)
        return ConfigSchema(sections: sections, environmentPrefix: environmentPrefix)
    }

    /// Every key in documentation order.
    public var keys: [ConfigKey] { sections.flatMap(\.keys) }

    /// The key at `path`, if the schema has one.
    public func key(_ path: String) -> ConfigKey? { keysByPath[path] }

    /// The environment variable that overrides `key`: the prefix plus the path upper-cased
    /// with `.` replaced by `_` (`kafka.brokers` -> `HSNN_KAFKA_BROKERS`).
    public func environmentVariable(for key: ConfigKey) -> String {
        Self.environmentVariable(for: key.path, prefix: environmentPrefix)
    }

    static func environmentVariable(for path: String, prefix: String) -> String {
        prefix + path.uppercased().replacingOccurrences(of: ".", with: "_").replacingOccurrences(of: "-", with: "_")
    }
}

func isBareKeyCharacter(_ c: Character) -> Bool {
    c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "-")
}

/// Formats a duration compactly with the largest unit that divides it (`10m`, `1500ms`).
func formatDuration(_ duration: Duration) -> String {
    let ms = durationMilliseconds(duration)
    if ms == 0 { return "0" }
    for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] where ms % size == 0 {
        return "\(ms / size)\(unit)"
    }
    return "\(ms)ms"
}

/// Whole milliseconds in `duration` (rounded towards zero).
func durationMilliseconds(_ duration: Duration) -> Int64 {
    duration.inMilliseconds
}
