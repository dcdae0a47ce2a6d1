import Foundation
import Testing
@testable import HSNNOps

/// The package root, found from this file's path (Tests/HSNNOpsTests/<file>).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

@Suite struct ConfigDocumentationTests {
    @Test func referenceListsEveryKeyWithTypeDefaultAndEnvironmentVariable() {
        let markdown = ConfigSchema.hsnn.markdownReference()
        for key in ConfigSchema.hsnn.keys {
            #expect(markdown.contains("| `\(key.path)` | \(key.type.name) |"), "missing row for \(key.path)")
        }
        #expect(markdown.contains(
            "| `kafka.brokers` | string | `\"embedded\"` | `HSNN_KAFKA_BROKERS` |"))
        #expect(markdown.contains(
            "| `joiner.attribution_window_ms` | duration (ms) | `600000` | `HSNN_JOINER_ATTRIBUTION_WINDOW_MS` |"))
        #expect(markdown.contains("| `checkpoint.file_mode` | octal mode | `\"0640\"` | `HSNN_CHECKPOINT_FILE_MODE` |"))
        #expect(markdown.contains("| `kafka.properties` | string map | `{}` | `HSNN_KAFKA_PROPERTIES__NAME` |"))
        #expect(markdown.contains("Accepted: one of: negative, drop_oldest."))
        #expect(markdown.contains("## `shutdown`"))
    }

    @Test func pipesInDocsAreEscaped() {
        let schema = ConfigSchema(sections: [
            ConfigSection("a", doc: "", keys: [ConfigKey("a.b", .string, default: .string("x|y"), doc: "left | right")]),
        ])
        let markdown = schema.markdownReference()
        #expect(markdown.contains(#"| `a.b` | string | `"x\|y"` | `HSNN_A_B` | left \| right |"#))
    }

    /// config/README.md is the renderer's output. To regenerate it after changing the schema:
    /// `UPDATE_CONFIG_DOCS=1 swift test --filter ConfigDocumentationTests`.
    @Test func configReadmeIsUpToDate() throws {
        let url = packageRoot.appendingPathComponent("config/README.md")
        let expected = ConfigSchema.hsnn.markdownReference()
        if ProcessInfo.processInfo.environment["UPDATE_CONFIG_DOCS"] == "1" {
            try expected.write(to: url, atomically: true, encoding: .utf8)
        }
        let actual = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        #expect(actual == expected, """
            config/README.md is out of date with the configuration schema; regenerate it with
              UPDATE_CONFIG_DOCS=1 swift test --filter ConfigDocumentationTests
            """)
    }

    @Test(arguments: ["config/dev.toml", "config/production.toml"])
    func exampleConfigurationsLoad(path: String) throws {
        let file = packageRoot.appendingPathComponent(path).path
        let config = try ConfigLoader(schema: .hsnn).load(file: file, environment: [:])
        // Every key written in the example is taken from the file (none is misspelt or ignored).
        #expect(config.sources.values.contains { if case .file = $0 { true } else { false } })
        if path.hasSuffix("dev.toml") {
            #expect(config.string("kafka.brokers") == "embedded")
        } else {
            #expect(config.string("kafka.brokers") != "embedded")
            #expect(config.string("checkpoint.dir") == "/var/lib/hsnn/checkpoints")
            #expect(config.string("log.format") == "logfmt")
            // systemd must be allowed to wait longer than the grace period (deploy/hsnn.service: TimeoutStopSec=45).
            #expect(config.duration("shutdown.grace_seconds") < .seconds(45))
        }
    }
}
