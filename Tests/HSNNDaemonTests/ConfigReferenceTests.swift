import Foundation
import HSNNDaemon
import HSNNModel
import HSNNOps
import HSNNTestSupport
import Testing

/// The daemon's full configuration schema (operational sections plus the model's keys)
/// against the documentation and example files.
@Suite struct ConfigReferenceTests {
    /// config/README.md is the renderer's output. To regenerate it after changing the schema:
    /// `UPDATE_CONFIG_DOCS=1 swift test --filter ConfigReferenceTests`.
    @Test func configReadmeIsUpToDate() throws {
        let url = packageRoot.appendingPathComponent("config/README.md")
        let expected = ModelSettings.schema.markdownReference()
        if ProcessInfo.processInfo.environment["UPDATE_CONFIG_DOCS"] == "1" {
            try expected.write(to: url, atomically: true, encoding: .utf8)
        }
        let actual = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        #expect(actual == expected, """
            config/README.md is out of date with the configuration schema; regenerate it with
              UPDATE_CONFIG_DOCS=1 swift test --filter ConfigReferenceTests
            """)
    }

    @Test(arguments: ["config/dev.toml", "config/production.toml"])
    func exampleConfigurationsLoad(path: String) throws {
        let file = packageRoot.appendingPathComponent(path).path
        let config = try ConfigLoader(schema: ModelSettings.schema).load(file: file, environment: [:])
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
    @Test func modelKeysReachTheModelConfiguration() throws {
        let config = try ConfigLoader(schema: ModelSettings.schema).load(
            tomlText: "[index]\nnodes = \"[64, 8]\"\n[model]\nkind = \"two_tower\"\n[training]\nbatch_size = 32\n",
            fileName: "test.toml", environment: ["HSNN_TRAINING_LEARNING_RATE": "0.01"], overrides: [])
        let model = try ModelSettings.modelConfig(from: config)
        #expect(model.nodes == [64, 8])
        #expect(model.kind.rawValue == "two_tower")
        #expect(model.batchSize == 32)
        #expect(model.learningRate == 0.01)
    }

    @Test func badModelValueNamesTheKey() throws {
        let config = try ConfigLoader(schema: ModelSettings.schema).load(
            tomlText: "[index]\nnodes = \"[64, x]\"\n", fileName: "test.toml", environment: [:], overrides: [])
        #expect(throws: (any Error).self) { try ModelSettings.modelConfig(from: config) }
        do { _ = try ModelSettings.modelConfig(from: config) } catch { #expect("\(error)".contains("index.nodes")) }
    }
}
