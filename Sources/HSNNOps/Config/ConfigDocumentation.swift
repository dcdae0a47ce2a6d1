import Foundation

extension ConfigSchema {
    /// The reference documentation of every key as Markdown: how layering works, then one table
    /// per section (key, type, default, environment variable, description with accepted values).
    ///
    /// `config/README.md` is this text; a test fails when the two differ.
    public func markdownReference(title: String = "Configuration reference") -> String {
        let example = keys.first { $0.type != .stringMap }
        let exampleVariable = example.map { environmentVariable(for: $0) } ?? "\(environmentPrefix)SECTION_KEY"
        let mapKey = keys.first { $0.type == .stringMap }
        var out = """
        # \(title)

        <!-- Generated from the configuration schema; do not edit by hand. -->

        Every key has a default. Values are taken, each layer overriding the previous one, from:

        1. the defaults below;
        2. the TOML file given with `--config FILE`;
        3. environment variables: `\(environmentPrefix)` + the key path upper-cased with `.` replaced by `_` \
        (`\(example?.path ?? "section.key")` -> `\(exampleVariable)`);
        4. command-line overrides `--set key=value` (repeatable), applied in order.

        Unknown keys (in the file, as `\(environmentPrefix)*` variables or in `--set`) and invalid values stop \
        the program at start with a message naming the key, where it was set and what is accepted.

        Durations are whole numbers in the unit the type names, or strings with a unit: `"1500ms"`, `"30s"`, \
        `"10m"`, `"2h"`, `"1d"`. Lists are TOML arrays, comma-separated in the environment and in `--set`. \
        Permission modes are octal strings such as `"0640"`.

        """
        if let mapKey {
            let variable = environmentVariable(for: mapKey)
            out += """

            String maps (`\(mapKey.path)`) pass their entries through unchanged. In the file write \
            `[\(mapKey.path)]` followed by `"security.protocol" = "SASL_SSL"`. In the environment each entry is \
            its own variable: the map's variable, `__`, then the entry name upper-cased with `.` replaced by `_` \
            (`\(variable)__SECURITY_PROTOCOL=SASL_SSL`; the name is lower-cased and every `_` becomes `.`, so \
            names containing `_` or upper case must be set in the file or with `--set`). On the command line: \
            `--set \(mapKey.path).security.protocol=SASL_SSL`. Entries from later layers are merged into the map. \
            Entries whose name contains `password`, `secret` or `token` are redacted when the configuration is printed.

            """
        }
        for section in sections {
            out += "\n## `\(section.name)`\n\n"
            if !section.doc.isEmpty { out += section.doc + "\n\n" }
            out += "| Key | Type | Default | Environment | Description |\n"
            out += "| --- | --- | --- | --- | --- |\n"
            for key in section.keys {
                var description = key.doc
                let accepted = key.constraints.map(\.accepted)
                if !accepted.isEmpty { description += " Accepted: " + accepted.joined(separator: "; ") + "." }
                let variable = environmentVariable(for: key) + (key.type == .stringMap ? "__NAME" : "")
                let cells = [
                    "`\(key.path)`",
                    key.type.name,
                    "`" + renderTOML(key.defaultValue, type: key.type) + "`",
                    "`\(variable)`",
                    description,
                ]
                out += "| " + cells.map(escapeTableCell).joined(separator: " | ") + " |\n"
            }
        }
        return out
    }
}

private func escapeTableCell(_ text: String) -> String {
    text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
}
