/// Finds, before the TOML parser sees the text, the one syntax error that TOMLKit's parser
/// (toml++ 3) does not report but aborts the process on: a table header whose `[` (or `[[`)
/// is followed, after spaces, by something that cannot start a key (`[` then a line break,
/// `[=`, `[#` ...). toml++ asserts on it, even in release builds.
///
/// The scan follows TOML's structure just enough to know where a table header can start: at
/// the beginning of a line, outside strings, comments and array or inline-table values. A
/// valid document never produces a problem here; anything else is left to the parser.
enum TOMLPreflight {
    /// A header that cannot start a key: its 1-based line and column, and what was found.
    struct Problem: Equatable {
        var line: Int
        var column: Int
        var found: String
    }

    private enum StringKind { case basic, literal, multilineBasic, multilineLiteral }

    static func problem(in text: String) -> Problem? {
        let scalars = Array(text.unicodeScalars)
        var index = 0
        var line = 1
        var lineStart = 0
        var depth = 0                      // open `[` and `{` of values
        var string: StringKind?
        var atStatementStart = true        // only whitespace since the last line break

        func starts(with pattern: String, at position: Int) -> Bool {
            var p = position
            for scalar in pattern.unicodeScalars {
                guard p < scalars.count, scalars[p] == scalar else { return false }
                p += 1
            }
            return true
        }

        if index < scalars.count, scalars[index] == "\u{FEFF}" { index += 1 }
        while index < scalars.count {
            let c = scalars[index]
            if c == "\n" {
                line += 1
                lineStart = index + 1
                index += 1
                if string == .basic || string == .literal { string = nil }
                if string == nil { atStatementStart = depth == 0 }
                continue
            }
            switch string {
            case .basic:
                if c == "\\" { index += index + 1 < scalars.count && scalars[index + 1] != "\n" ? 2 : 1; continue }
                if c == "\"" { string = nil }
                index += 1
                continue
            case .literal:
                if c == "'" { string = nil }
                index += 1
                continue
            case .multilineBasic:
                if c == "\\" { index += index + 1 < scalars.count && scalars[index + 1] != "\n" ? 2 : 1; continue }
                if starts(with: "\"\"\"", at: index) { string = nil; index += 3 } else { index += 1 }
                continue
            case .multilineLiteral:
                if starts(with: "'''", at: index) { string = nil; index += 3 } else { index += 1 }
                continue
            case nil:
                break
            }
            if c == " " || c == "\t" || c == "\r" { index += 1; continue }
            if c == "#" {
                while index < scalars.count, scalars[index] != "\n" { index += 1 }
                continue
            }
            if atStatementStart && c == "[" {
                // A table header: `[` or `[[`, spaces, then a key, a closing `]` or the end.
                var p = index + 1
                if p < scalars.count, scalars[p] == "[" { p += 1 }
                while p < scalars.count, scalars[p] == " " || scalars[p] == "\t" { p += 1 }
                if p < scalars.count {
                    let next = scalars[p]
                    if !(isBareKeyScalar(next) || next == "\"" || next == "'" || next == "]"
                        || isNonASCIIHorizontalSpace(next)) {
                        return Problem(line: line, column: p - lineStart + 1, found: describe(next))
                    }
                }
                // The rest of the line is the header (and perhaps a comment).
                while index < scalars.count, scalars[index] != "\n" { index += 1 }
                continue
            }
            atStatementStart = false
            if starts(with: "\"\"\"", at: index) { string = .multilineBasic; index += 3; continue }
            if starts(with: "'''", at: index) { string = .multilineLiteral; index += 3; continue }
            switch c {
            case "\"": string = .basic
            case "'": string = .literal
            case "[", "{": depth += 1
            case "]", "}": depth = max(0, depth - 1)
            default: break
            }
            index += 1
        }
        return nil
    }

    private static func isBareKeyScalar(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "A"..."Z", "a"..."z", "0"..."9", "_", "-": true
        default: false
        }
    }

    /// toml++ reports these itself ("expected space or tab") before looking for the key.
    private static func isNonASCIIHorizontalSpace(_ c: Unicode.Scalar) -> Bool {
        c.value >= 0xA0 && c.properties.isWhitespace && c != "\u{85}" && c != "\u{2028}" && c != "\u{2029}"
    }

    private static func describe(_ c: Unicode.Scalar) -> String {
        switch c {
        case "\n", "\r": "a line break"
        default: c.properties.isWhitespace || c.value < 0x20 ? "U+" + String(c.value, radix: 16, uppercase: true) : "'\(c)'"
        }
    }
}
