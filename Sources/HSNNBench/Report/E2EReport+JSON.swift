import Foundation

extension E2EReport {
    /// One JSON object on one line: snake-case keys, sorted; non-finite numbers as strings.
    /// - Throws: `EncodingError` (not expected).
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .custom { path in SnakeCaseKey(path.last!.stringValue) }
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }
}
