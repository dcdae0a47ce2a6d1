/// Quoting of strings for the text formats the project writes: JSON (safetensors headers,
/// manifests, status), TOML (configuration echoes) and logfmt (log lines) share one escaping
/// rule, which is valid in all three.
public enum StringEscaping {
    /// `text` between double quotes, with `"`, `\` and control characters (U+0000 to U+001F
    /// and U+007F) escaped: `\"`, `\\`, `\n`, `\r`, `\t`, else `\u00XX` in lower-case hex.
    public static func quoted(_ text: String) -> String {
        var out = "\""
        appendEscaped(text, to: &out)
        out += "\""
        return out
    }

    /// Appends `text` to `out` escaped as in ``quoted(_:)``, without the quotes.
    public static func appendEscaped(_ text: String, to out: inout String) {
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
    }
}
