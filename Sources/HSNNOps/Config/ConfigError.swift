/// Where a configuration value came from.
public enum ConfigSource: Sendable, Hashable, CustomStringConvertible {
    /// The schema default.
    case defaultValue
    /// A TOML file; `line` is where the key is written when it could be located.
    case file(path: String, line: Int?)
    /// An environment variable.
    case environment(variable: String)
    /// A `--set key=value` command-line override (the argument as given).
    case flag(String)

    public var description: String {
        switch self {
        case .defaultValue: "default"
        case .file(let path, let line?): "\(path):\(line)"
        case .file(let path, nil): path
        case .environment(let variable): "environment variable \(variable)"
        case .flag(let argument): "flag --set \(argument)"
        }
    }
}

/// One thing wrong with the configuration, naming the key, where it was set and what is accepted.
public struct ConfigProblem: Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable {
        /// A key (file, environment variable or flag) that the schema does not define.
        case unknownKey
        /// A value of the wrong type or outside the key's constraints.
        case invalidValue
        /// The file is not valid TOML.
        case malformedFile
        /// The file could not be read.
        case unreadableFile
        /// A `--set` argument that is not `key=value`.
        case malformedOverride
    }

    public let code: Code
    /// The key concerned, as written by the operator, when there is one.
    public let key: String?
    public let source: ConfigSource
    /// What is wrong.
    public let message: String
    /// What would be accepted, or what to do.
    public let hint: String

    public init(code: Code, key: String?, source: ConfigSource, message: String, hint: String) {
        self.code = code
        self.key = key
        self.source = source
        self.message = message
        self.hint = hint
    }

    public var description: String {
        let subject = key.map { "\($0) (\(source))" } ?? "\(source)"
        return "\(subject): \(message); \(hint)"
    }
}

/// Loading the configuration failed; every problem found is listed so an operator can fix
/// them in one go.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let problems: [ConfigProblem]

    public init(problems: [ConfigProblem]) { self.problems = problems }

    public var description: String {
        let header = problems.count == 1
            ? "invalid configuration:"
            : "invalid configuration (\(problems.count) problems):"
        return ([header] + problems.map { "  - \($0)" }).joined(separator: "\n")
    }
}
