/// Finds the line on which a TOML key is written, so errors can say `file:line`.
///
/// The TOML parser reports positions only for syntax errors, so this scans the (already
/// validated) text for table headers and `key =` assignments. Keys inside inline tables or
/// multi-line arrays resolve to the line of their nearest enclosing key or header.
struct TOMLLineLocator {
    private var lines: [[String]: Int] = [:]

    init(text: String) {
        var table: [String] = []
        var inMultilineString: String?
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = Substring(rawLine)
            if let delimiter = inMultilineString {
                if line.occurrences(of: delimiter) % 2 == 1 { inMultilineString = nil }
                continue
            }
            var rest = line.drop { $0 == " " || $0 == "\t" }
            if rest.isEmpty || rest.first == "#" { continue }
            if rest.hasPrefix("[") {
                let isArray = rest.hasPrefix("[[")
                rest = rest.dropFirst(isArray ? 2 : 1)
                guard let (segments, after) = Self.parseKey(rest), after.first == "]" else { continue }
                table = segments
                if lines[segments] == nil { lines[segments] = lineNumber }
                continue
            }
            guard let (segments, after) = Self.parseKey(rest), after.first == "=" else { continue }
            let path = table + segments
            if lines[path] == nil { lines[path] = lineNumber }
            let value = after.dropFirst()
            for delimiter in ["\"\"\"", "'''"] where value.occurrences(of: delimiter) % 2 == 1 {
                inMultilineString = delimiter
            }
        }
    }

    /// The line of `path`, or of its nearest written ancestor.
    func line(for path: [String]) -> Int? {
        var path = path
        while !path.isEmpty {
            if let line = lines[path] { return line }
            path.removeLast()
        }
        return nil
    }

    /// Parses a dotted key (bare, `"basic"` or `'literal'` segments); returns the segments and
    /// the text after the key with leading blanks removed.
    static func parseKey(_ text: Substring) -> ([String], Substring)? {
        var segments: [String] = []
        var rest = text
        while true {
            rest = rest.drop { $0 == " " || $0 == "\t" }
            guard let first = rest.first else { return nil }
            if first == "\"" || first == "'" {
                rest = rest.dropFirst()
                var segment = ""
                var closed = false
                while let c = rest.first {
                    rest = rest.dropFirst()
                    if c == first { closed = true; break }
                    if c == "\\" && first == "\"", let escaped = rest.first {
                        rest = rest.dropFirst()
                        switch escaped {
                        case "n": segment.append("\n")
                        case "t": segment.append("\t")
                        default: segment.append(escaped)
                        }
                        continue
                    }
                    segment.append(c)
                }
                guard closed else { return nil }
                segments.append(segment)
            } else {
                let bare = rest.prefix(while: isBareKeyCharacter)
                guard !bare.isEmpty else { return nil }
                segments.append(String(bare))
                rest = rest.dropFirst(bare.count)
            }
            rest = rest.drop { $0 == " " || $0 == "\t" }
            if rest.first == "." {
                rest = rest.dropFirst()
                continue
            }
            return (segments, rest)
        }
    }
}

extension Substring {
    func occurrences(of needle: String) -> Int {
        var count = 0
        var rest = self[...]
        while let range = rest.firstRange(of: needle) {
            count += 1
            rest = rest[range.upperBound...]
        }
        return count
    }
}
