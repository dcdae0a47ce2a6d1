import Foundation

/// Pretty-printed JSON with sorted keys and a final newline; non-finite numbers as strings.
func prettyJSON(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return String(decoding: try encoder.encode(value), as: UTF8.self) + "\n"
}

/// JSON keys in snake case, with `MiB` as one word (`rssEndMiB` -> `rss_end_mib`).
struct SnakeCaseKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }

    init(_ camelCase: String) {
        var out = ""
        for character in camelCase.replacingOccurrences(of: "MiB", with: "Mib") {
            if character.isUppercase {
                out += "_" + character.lowercased()
            } else {
                out.append(character)
            }
        }
        stringValue = out
    }

    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
