/// Turns text from the environment or a `--set` flag into typed values, and checks value kinds.
enum ConfigValueParser {
    /// Whether `value` is the representation used for keys of `type`.
    static func matches(_ value: ConfigValue, _ type: ConfigValueType) -> Bool {
        switch (type, value) {
        case (.string, .string), (.int, .int), (.double, .double), (.bool, .bool),
             (.milliseconds, .duration), (.seconds, .duration), (.stringList, .stringList),
             (.stringMap, .stringMap), (.fileMode, .int):
            true
        default:
            false
        }
    }

    /// Parses environment or flag text as a value of `type`; `nil` when the text is not one.
    /// Maps cannot be set as a whole from text (their entries are set one by one).
    static func parse(_ text: String, as type: ConfigValueType) -> ConfigValue? {
        let trimmed = text.trimmingWhitespace()
        switch type {
        case .string:
            return .string(text)
        case .int:
            return parseInteger(trimmed).map(ConfigValue.int)
        case .double:
            guard let v = Double(trimmed.replacing("_", with: "")), v.isFinite else { return nil }
            return .double(v)
        case .bool:
            switch trimmed.lowercased() {
            case "true", "1", "yes", "on": return .bool(true)
            case "false", "0", "no", "off": return .bool(false)
            default: return nil
            }
        case .milliseconds:
            return parseDuration(trimmed, bareUnitMilliseconds: 1).map(ConfigValue.duration)
        case .seconds:
            return parseDuration(trimmed, bareUnitMilliseconds: 1000).map(ConfigValue.duration)
        case .stringList:
            let items = text.split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
            return .stringList(items)
        case .stringMap:
            return nil
        case .fileMode:
            return parseOctalMode(trimmed).map(ConfigValue.int)
        }
    }

    static func parseInteger(_ text: String) -> Int? {
        Int(text.replacing("_", with: ""))
    }

    /// `"1500"` (bare, in the key's unit), `"1500ms"`, `"30s"`, `"10m"`, `"2h"`, `"1d"`; never negative.
    static func parseDuration(_ text: String, bareUnitMilliseconds: Int64) -> Duration? {
        let units: [(suffix: String, ms: Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        var number = Substring(text)
        var unitMs = bareUnitMilliseconds
        for unit in units where text.hasSuffix(unit.suffix) {
            number = text.dropLast(unit.suffix.count)
            unitMs = unit.ms
            break
        }
        guard let count = Int64(String(number).trimmingWhitespace().replacing("_", with: "")), count >= 0 else { return nil }
        let (ms, overflow) = count.multipliedReportingOverflow(by: unitMs)
        guard !overflow, ms <= Int64.max / 1_000_000 else { return nil }
        return .milliseconds(ms)
    }

    /// `"0640"`, `"640"` or `"0o640"`: octal digits only, at most `0o7777`.
    static func parseOctalMode(_ text: String) -> Int? {
        var digits = Substring(text)
        if digits.hasPrefix("0o") || digits.hasPrefix("0O") { digits = digits.dropFirst(2) }
        guard !digits.isEmpty, digits.count <= 5, let mode = Int(digits, radix: 8), mode >= 0, mode <= 0o7777 else {
            return nil
        }
        return mode
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice = slice.dropFirst() }
        while let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return String(slice)
    }
}
