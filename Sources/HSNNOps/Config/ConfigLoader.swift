import Foundation
import TOMLKit

/// Loads a ``Configuration`` in layers: schema defaults, then a TOML file, then environment
/// variables, then `--set key=value` overrides (each layer overrides the previous one).
///
/// Environment variables are `HSNN_` plus the key path upper-cased with `.` -> `_`
/// (`kafka.brokers` -> `HSNN_KAFKA_BROKERS`). An entry of a string map is set with the map's
/// variable, a double underscore, then the entry name upper-cased with `.` -> `_`:
/// `HSNN_KAFKA_PROPERTIES__SECURITY_PROTOCOL=SASL_SSL` sets `kafka.properties."security.protocol"`
/// (the name is lower-cased and each `_` becomes `.`; names with upper case or `_` must be set in the
/// file or with `--set`). On the command line, `--set kafka.properties.security.protocol=SASL_SSL`
/// and `--set 'kafka.properties."security.protocol"=SASL_SSL'` are equivalent. Map entries from
/// later layers are merged into earlier ones, not replacing the whole map.
///
/// Every unknown key, unknown `HSNN_` variable and bad value is collected and reported together.
public struct ConfigLoader: Sendable {
    public let schema: ConfigSchema
    /// `HSNN_`-prefixed environment variables that are not configuration and must not be
    /// reported as unknown.
    public var ignoredEnvironmentVariables: Set<String>

    public init(schema: ConfigSchema, ignoredEnvironmentVariables: Set<String> = []) {
        self.schema = schema
        self.ignoredEnvironmentVariables = ignoredEnvironmentVariables
    }

    /// Loads the configuration from an optional TOML file, the environment and overrides.
    /// - Parameters:
    ///   - file: Path of a TOML file, or `nil` to start from the defaults.
    ///   - environment: Usually `ProcessInfo.processInfo.environment`.
    ///   - overrides: `key=value` arguments of `--set` flags, in command-line order.
    /// - Throws: ``ConfigurationError`` listing every unreadable file, syntax error, unknown key
    ///   and invalid value.
    public func load(
        file: String?, environment: [String: String] = ProcessInfo.processInfo.environment, overrides: [String] = []
    ) throws(ConfigurationError) -> Configuration {
        var builder = Builder(schema: schema)
        if let file {
            let text: String
            do {
                text = try String(contentsOfFile: file, encoding: .utf8)
            } catch {
                throw ConfigurationError(problems: [ConfigProblem(
                    code: .unreadableFile, key: nil, source: .file(path: file, line: nil),
                    message: "cannot read the configuration file (\(Self.describe(error)))",
                    hint: "check the path given to --config and that the file is readable UTF-8 text")])
            }
            builder.applyTOML(text, fileName: file)
        }
        builder.applyEnvironment(environment, ignoring: ignoredEnvironmentVariables)
        builder.applyOverrides(overrides)
        return try builder.finish()
    }

    /// Loads from TOML text instead of a file (`fileName` is used in error messages).
    /// - Throws: ``ConfigurationError`` as ``load(file:environment:overrides:)``.
    public func load(
        tomlText: String, fileName: String, environment: [String: String] = [:], overrides: [String] = []
    ) throws(ConfigurationError) -> Configuration {
        var builder = Builder(schema: schema)
        builder.applyTOML(tomlText, fileName: fileName)
        builder.applyEnvironment(environment, ignoring: ignoredEnvironmentVariables)
        builder.applyOverrides(overrides)
        return try builder.finish()
    }

    private static func describe(_ error: any Error) -> String {
        let nsError = error as NSError
        if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        return nsError.localizedDescription
    }
}

/// Accumulates layered values and problems.
private struct Builder {
    let schema: ConfigSchema
    var values: [String: ConfigValue] = [:]
    var sources: [String: ConfigSource] = [:]
    var mapEntrySources: [String: [String: ConfigSource]] = [:]
    var problems: [ConfigProblem] = []

    init(schema: ConfigSchema) {
        self.schema = schema
        for key in schema.keys {
            values[key.path] = key.defaultValue
            sources[key.path] = .defaultValue
        }
    }

    func finish() throws(ConfigurationError) -> Configuration {
        guard problems.isEmpty else { throw ConfigurationError(problems: problems) }
        return Configuration(schema: schema, values: values, sources: sources, mapEntrySources: mapEntrySources)
    }

    // MARK: Setting values

    /// Validates `value` against `key` and stores it, or records a problem.
    mutating func set(_ key: ConfigKey, _ value: ConfigValue, from source: ConfigSource, written: String) {
        let written = key.isSecret ? "the value" : written
        for constraint in key.constraints where !constraint.accepts(value) {
            problems.append(ConfigProblem(
                code: .invalidValue, key: key.path, source: source,
                message: "\(written) is not allowed",
                hint: "accepted: \(constraint.accepted)"))
            return
        }
        values[key.path] = value
        sources[key.path] = source
    }

    mutating func setMapEntry(_ key: ConfigKey, name: String, value: String, from source: ConfigSource) {
        guard case .stringMap(var map) = values[key.path] else { return }
        map[name] = value
        values[key.path] = .stringMap(map)
        sources[key.path] = source
        mapEntrySources[key.path, default: [:]][name] = source
    }

    mutating func invalid(_ key: ConfigKey, _ source: ConfigSource, written: String) {
        let written = key.isSecret ? "the value" : written
        problems.append(ConfigProblem(
            code: .invalidValue, key: key.path, source: source,
            message: "\(written) is not \(key.type.accepted.firstClause)",
            hint: "accepted: \(key.type.accepted)" + constraintSuffix(key)))
    }

    mutating func unknown(_ written: String, _ source: ConfigSource, candidates: [String], listHint: String) {
        var hint = listHint
        if let suggestion = closestMatch(to: written, among: candidates) {
            hint = "did you mean \(suggestion)? " + hint
        }
        problems.append(ConfigProblem(code: .unknownKey, key: written, source: source, message: "unknown key", hint: hint))
    }

    private func constraintSuffix(_ key: ConfigKey) -> String {
        key.constraints.isEmpty ? "" : " (" + key.constraints.map(\.accepted).joined(separator: "; ") + ")"
    }

    /// The schema key at `segments`, or the string-map key that `segments` lies under with the
    /// entry name (remaining segments joined with `.`).
    func resolve(_ segments: [String]) -> (key: ConfigKey, mapEntry: String?)? {
        if let key = schema.key(segments.joined(separator: ".")), !segments.contains(where: { $0.contains(".") }) {
            return (key, nil)
        }
        for split in stride(from: segments.count - 1, through: 1, by: -1) {
            let head = segments[..<split]
            guard !head.contains(where: { $0.contains(".") }),
                  let key = schema.key(head.joined(separator: ".")), key.type == .stringMap else { continue }
            return (key, segments[split...].joined(separator: "."))
        }
        return nil
    }

    /// Whether some key lies under `segments` (so a TOML table at that path is expected).
    func isSectionPrefix(_ segments: [String]) -> Bool {
        let prefix = segments.joined(separator: ".") + "."
        return schema.keys.contains { $0.path.hasPrefix(prefix) }
    }

    // MARK: TOML

    mutating func applyTOML(_ text: String, fileName: String) {
        // TOMLKit's parser aborts the process on this error instead of reporting it.
        if let problem = TOMLPreflight.problem(in: text) {
            problems.append(ConfigProblem(
                code: .malformedFile, key: nil, source: .file(path: fileName, line: problem.line),
                message: "not valid TOML: a table header needs a key name after '[', found \(problem.found) "
                    + "(line \(problem.line), column \(problem.column))",
                hint: "fix the syntax at line \(problem.line), column \(problem.column): write [section] or [[array]]"))
            return
        }
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            problems.append(ConfigProblem(
                code: .malformedFile, key: nil, source: .file(path: fileName, line: error.source.begin.line),
                message: "not valid TOML: \(error.description)",
                hint: "fix the syntax at line \(error.source.begin.line), column \(error.source.begin.column)"))
            return
        } catch {
            problems.append(ConfigProblem(
                code: .malformedFile, key: nil, source: .file(path: fileName, line: nil),
                message: "not valid TOML: \(error)", hint: "fix the file's syntax"))
            return
        }
        let locator = TOMLLineLocator(text: text)
        let firstProblem = problems.count
        walk(root, path: [], fileName: fileName, locator: locator)
        // Report the file's problems in file order.
        let fileProblems = problems[firstProblem...].enumerated().sorted { a, b in
            let (lineA, lineB) = (a.element.line ?? Int.max, b.element.line ?? Int.max)
            return lineA != lineB ? lineA < lineB : a.offset < b.offset
        }.map(\.element)
        problems.replaceSubrange(firstProblem..., with: fileProblems)
    }

    private mutating func walk(_ table: TOMLTable, path: [String], fileName: String, locator: TOMLLineLocator) {
        for name in table.keys.sorted() {
            guard let node = table[name] else { continue }
            let segments = path + [name]
            let source = ConfigSource.file(path: fileName, line: locator.line(for: segments))
            let written = displayPath(segments)
            if let (key, entry) = resolve(segments) {
                if let entry {
                    guard let text = scalarText(node) else {
                        problems.append(ConfigProblem(
                            code: .invalidValue, key: written, source: source,
                            message: "a \(node.type) cannot be a \(key.path) entry",
                            hint: "accepted: a string, number or boolean (passed through as text)"))
                        continue
                    }
                    setMapEntry(key, name: entry, value: text, from: source)
                } else if key.type == .stringMap {
                    guard let child = node.table else {
                        invalid(key, source, written: "a \(node.type)")
                        continue
                    }
                    walkMap(child, key: key, prefix: [], path: segments, fileName: fileName, locator: locator)
                } else if let value = tomlValue(node, as: key.type) {
                    set(key, value, from: source, written: describe(node))
                } else {
                    invalid(key, source, written: describe(node))
                }
            } else if node.type == .table, let child = node.table, isSectionPrefix(segments) {
                walk(child, path: segments, fileName: fileName, locator: locator)
            } else {
                unknown(written, source, candidates: schema.keys.map(\.path),
                        listHint: "every key is listed in config/README.md")
            }
        }
    }

    /// A TOML map written with nested tables (`[kafka.properties]` + `security.protocol = "x"`)
    /// means dotted entry names.
    private mutating func walkMap(
        _ table: TOMLTable, key: ConfigKey, prefix: [String], path: [String], fileName: String, locator: TOMLLineLocator
    ) {
        for name in table.keys.sorted() {
            guard let node = table[name] else { continue }
            let entry = prefix + [name]
            let source = ConfigSource.file(path: fileName, line: locator.line(for: path + entry))
            if let text = scalarText(node) {
                setMapEntry(key, name: entry.joined(separator: "."), value: text, from: source)
            } else if let child = node.table {
                walkMap(child, key: key, prefix: entry, path: path, fileName: fileName, locator: locator)
            } else {
                problems.append(ConfigProblem(
                    code: .invalidValue, key: displayPath(path + entry), source: source,
                    message: "a \(node.type) cannot be a \(key.path) entry",
                    hint: "accepted: a string, number or boolean (passed through as text)"))
            }
        }
    }

    private func scalarText(_ node: any TOMLValueConvertible) -> String? {
        switch node.type {
        case .string: node.string
        case .int: node.int.map { String($0) }
        case .double: node.double.map { String($0) }
        case .bool: node.bool.map { $0 ? "true" : "false" }
        default: nil
        }
    }

    private func describe(_ node: any TOMLValueConvertible) -> String {
        switch node.type {
        case .string: "\"\(node.string ?? "")\""
        case .int, .double, .bool: scalarText(node) ?? "\(node.type)"
        default: "a \(node.type)"
        }
    }

    private func tomlValue(_ node: any TOMLValueConvertible, as type: ConfigValueType) -> ConfigValue? {
        switch type {
        case .string:
            return node.string.map(ConfigValue.string)
        case .int:
            return node.int.map(ConfigValue.int)
        case .double:
            if let v = node.double, v.isFinite { return .double(v) }
            return node.int.map { .double(Double($0)) }
        case .bool:
            return node.bool.map(ConfigValue.bool)
        case .milliseconds, .seconds:
            let unit: Int64 = type == .milliseconds ? 1 : 1000
            if let count = node.int {
                return ConfigValueParser.parseDuration(String(count), bareUnitMilliseconds: unit).map(ConfigValue.duration)
            }
            return node.string.flatMap { ConfigValueParser.parseDuration($0, bareUnitMilliseconds: unit) }.map(ConfigValue.duration)
        case .stringList:
            guard let array = node.array else { return nil }
            var items: [String] = []
            for element in array {
                guard let item = element.string else { return nil }
                items.append(item)
            }
            return .stringList(items)
        case .stringMap:
            return nil
        case .fileMode:
            if let mode = node.int { return (0...0o7777).contains(mode) ? .int(mode) : nil }
            return node.string.flatMap(ConfigValueParser.parseOctalMode).map(ConfigValue.int)
        }
    }

    // MARK: Environment

    mutating func applyEnvironment(_ environment: [String: String], ignoring ignored: Set<String>) {
        let prefix = schema.environmentPrefix
        for (variable, text) in environment.sorted(by: { $0.key < $1.key }) where variable.hasPrefix(prefix) {
            if ignored.contains(variable) { continue }
            let source = ConfigSource.environment(variable: variable)
            if let key = schema.keysByEnvironment[variable] {
                if key.type == .stringMap {
                    problems.append(ConfigProblem(
                        code: .invalidValue, key: key.path, source: source,
                        message: "a whole map cannot be set from one variable",
                        hint: "set one entry per variable, e.g. \(variable)__SECURITY_PROTOCOL=SASL_SSL"))
                } else if let value = ConfigValueParser.parse(text, as: key.type) {
                    set(key, value, from: source, written: quoted(text))
                } else {
                    invalid(key, source, written: quoted(text))
                }
                continue
            }
            if let (key, entry) = mapEntry(forVariable: variable) {
                setMapEntry(key, name: entry, value: text, from: source)
                continue
            }
            unknown(variable, source, candidates: Array(schema.keysByEnvironment.keys),
                    listHint: "variables are \(prefix) + the key path upper-cased with _ (see config/README.md); unset it")
        }
    }

    private func mapEntry(forVariable variable: String) -> (ConfigKey, String)? {
        for key in schema.keys where key.type == .stringMap {
            let mapPrefix = schema.environmentVariable(for: key) + "__"
            guard variable.hasPrefix(mapPrefix), variable.count > mapPrefix.count else { continue }
            let name = variable.dropFirst(mapPrefix.count).lowercased().replacingOccurrences(of: "_", with: ".")
            return (key, name)
        }
        return nil
    }

    // MARK: Flags

    mutating func applyOverrides(_ overrides: [String]) {
        for argument in overrides {
            guard let equals = argument.firstIndex(of: "="),
                  let (segments, rest) = TOMLLineLocator.parseKey(argument[..<equals]), rest.isEmpty else {
                let shown = argument.firstIndex(of: "=").map { redactedArgument(argument, at: $0) } ?? argument
                problems.append(ConfigProblem(
                    code: .malformedOverride, key: nil, source: .flag(shown),
                    message: "not of the form key=value",
                    hint: "write --set kafka.brokers=host:9092 (keys are listed in config/README.md)"))
                continue
            }
            let text = String(argument[argument.index(after: equals)...])
            let written = displayPath(segments)
            guard let (key, entry) = resolve(segments) else {
                unknown(written, .flag(redactedArgument(argument, at: equals)), candidates: schema.keys.map(\.path),
                        listHint: "every key is listed in config/README.md")
                continue
            }
            // Flags are echoed in error messages and the effective configuration: never with a secret.
            let isSecret = key.isSecret || entry.map(isSecretEntry) == true
            let source = ConfigSource.flag(isSecret ? redactedArgument(argument, at: equals) : argument)
            if let entry {
                setMapEntry(key, name: entry, value: text, from: source)
            } else if key.type == .stringMap {
                problems.append(ConfigProblem(
                    code: .invalidValue, key: key.path, source: source,
                    message: "a whole map cannot be set at once",
                    hint: "set one entry per flag, e.g. --set \(key.path).security.protocol=SASL_SSL"))
            } else if let value = ConfigValueParser.parse(text, as: key.type) {
                set(key, value, from: source, written: quoted(text))
            } else {
                invalid(key, source, written: quoted(text))
            }
        }
    }

    private func quoted(_ text: String) -> String { "\"\(text)\"" }

    private func redactedArgument(_ argument: String, at equals: String.Index) -> String {
        argument[..<equals] + "=<redacted>"
    }
}

extension ConfigProblem {
    fileprivate var line: Int? {
        if case .file(_, let line) = source { return line }
        return nil
    }
}

/// Writes path segments as a TOML dotted key, quoting segments that are not bare.
func displayPath(_ segments: [String]) -> String {
    segments.map { segment in
        !segment.isEmpty && segment.allSatisfy(isBareKeyCharacter) ? segment : "\"\(segment)\""
    }.joined(separator: ".")
}

/// The candidate closest to `written` by edit distance, if it is close enough to be a typo.
func closestMatch(to written: String, among candidates: [String]) -> String? {
    let target = Array(written.lowercased())
    var best: (String, Int)?
    for candidate in candidates {
        let distance = editDistance(target, Array(candidate.lowercased()))
        if distance < (best?.1 ?? Int.max) { best = (candidate, distance) }
    }
    guard let (candidate, distance) = best, distance <= max(2, target.count / 4) else { return nil }
    return candidate
}

private func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}

extension String {
    /// The text up to the first comma or parenthesis, for "x is not <a string>" messages.
    var firstClause: String {
        String(prefix { $0 != "," && $0 != "(" }).trimmingWhitespace()
    }
}
