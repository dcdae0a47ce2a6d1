import Foundation
import HSNNDaemon
import Testing
@testable import HSNNOps

@Suite struct ConfigLoadingTests {
    let loader = ConfigLoader(schema: .hsnn)

    func problems(_ body: () throws(ConfigurationError) -> Configuration) -> [ConfigProblem] {
        do {
            _ = try body()
            Issue.record("expected the configuration to be rejected")
            return []
        } catch {
            return error.problems
        }
    }

    @Test func defaultsApplyWhenNothingIsSet() throws {
        let config = try loader.load(tomlText: "", fileName: "empty.toml")
        #expect(config.string("kafka.brokers") == "embedded")
        #expect(config.string("kafka.events_topic") == "hsnn.events")
        #expect(config.optionalString("kafka.dead_letter_topic") == nil)
        #expect(config.milliseconds("joiner.attribution_window_ms") == 600_000)
        #expect(config.fileMode("checkpoint.file_mode") == 0o640)
        #expect(config.fileMode("checkpoint.dir_mode") == 0o750)
        #expect(config.string("http.host") == "127.0.0.1")
        #expect(config.source(of: "kafka.brokers") == .defaultValue)
    }

    @Test func fileIsOverriddenByEnvironmentWhichIsOverriddenByFlags() throws {
        let toml = """
        [kafka]
        brokers = "file:9092"
        group_id = "from-file"
        events_topic = "file.events"

        [http]
        port = 1111
        """
        let environment = [
            "HSNN_KAFKA_GROUP_ID": "from-env",
            "HSNN_KAFKA_EVENTS_TOPIC": "env.events",
            "PATH": "/usr/bin",  // not ours: ignored
        ]
        let config = try loader.load(
            tomlText: toml, fileName: "hsnn.toml", environment: environment,
            overrides: ["kafka.events_topic=flag.events", "http.port=0"])
        #expect(config.string("kafka.brokers") == "file:9092")
        #expect(config.source(of: "kafka.brokers") == .file(path: "hsnn.toml", line: 2))
        #expect(config.string("kafka.group_id") == "from-env")
        #expect(config.source(of: "kafka.group_id") == .environment(variable: "HSNN_KAFKA_GROUP_ID"))
        #expect(config.string("kafka.events_topic") == "flag.events")
        #expect(config.source(of: "kafka.events_topic") == .flag("kafka.events_topic=flag.events"))
        #expect(config.int("http.port") == 0)
    }

    @Test func laterFlagsWin() throws {
        let config = try loader.load(tomlText: "", fileName: "x.toml", overrides: ["http.port=1", "http.port=2"])
        #expect(config.int("http.port") == 2)
    }

    @Test func fileLoadsFromDisk() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("hsnn-config-\(UUID()).toml").path
        try "[training]\nbatch_size = 64\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let config = try loader.load(file: path, environment: [:])
        #expect(config.int("training.batch_size") == 64)
        #expect(config.source(of: "training.batch_size") == .file(path: path, line: 2))
    }

    @Test func missingFileIsReportedWithItsPath() {
        let found = problems { () throws(ConfigurationError) in
            try loader.load(file: "/nonexistent/hsnn.toml", environment: [:])
        }
        #expect(found.map(\.code) == [.unreadableFile])
        #expect(found.first?.description.contains("/nonexistent/hsnn.toml") == true)
    }

    @Test func unknownFileKeyNamesKeyLineAndSuggestion() {
        let toml = """
        # comment
        [kafka]
        brokers = "x:1"
        brokres = "typo"
        """
        let found = problems { () throws(ConfigurationError) in try loader.load(tomlText: toml, fileName: "dev.toml") }
        #expect(found.count == 1)
        let problem = found[0]
        #expect(problem.code == .unknownKey)
        #expect(problem.key == "kafka.brokres")
        #expect(problem.source == .file(path: "dev.toml", line: 4))
        #expect(problem.description.contains("did you mean kafka.brokers?"))
    }

    @Test func unknownSectionIsReported() {
        let found = problems { () throws(ConfigurationError) in
            try loader.load(tomlText: "[kafak]\nbrokers = \"x\"\n", fileName: "f.toml")
        }
        #expect(found.map(\.key) == ["kafak"])
        #expect(found.first?.source == .file(path: "f.toml", line: 1))
    }

    @Test func unknownEnvironmentVariableAndFlagAreReported() {
        let found = problems { () throws(ConfigurationError) in
            try loader.load(
                tomlText: "", fileName: "f.toml", environment: ["HSNN_KAFKA_BROKER": "x:1"],
                overrides: ["trainig.batch_size=5"])
        }
        #expect(found.count == 2)
        #expect(found[0].key == "HSNN_KAFKA_BROKER")
        #expect(found[0].source == .environment(variable: "HSNN_KAFKA_BROKER"))
        #expect(found[0].description.contains("did you mean HSNN_KAFKA_BROKERS?"))
        #expect(found[1].key == "trainig.batch_size")
        #expect(found[1].source == .flag("trainig.batch_size=<redacted>"))  // may be a misspelt secret
        #expect(found[1].description.contains("training.batch_size"))
    }

    @Test func ignoredEnvironmentVariablesAreNotReported() throws {
        let loader = ConfigLoader(schema: .hsnn, ignoredEnvironmentVariables: ["HSNN_BENCH_EVENTS"])
        _ = try loader.load(tomlText: "", fileName: "f.toml", environment: ["HSNN_BENCH_EVENTS": "5"])
    }

    @Test func badValuesNameKeySourceAndWhatIsAccepted() {
        let toml = """
        [http]
        port = "eighty"
        [log]
        format = "xml"
        [checkpoint]
        keep = 0
        """
        let found = problems { () throws(ConfigurationError) in
            try loader.load(tomlText: toml, fileName: "bad.toml", environment: ["HSNN_TRAINING_BATCH_SIZE": "lots"],
                            overrides: ["joiner.attribution_window_ms=soon", "checkpoint.file_mode=0999"])
        }
        let byKey = Dictionary(found.map { ($0.key ?? "", $0) }, uniquingKeysWith: { a, _ in a })
        #expect(found.count == 6)
        // File problems in file order, then the environment, then flags in command-line order.
        #expect(found.map { $0.key ?? "" } == [
            "http.port", "log.format", "checkpoint.keep", "training.batch_size", "joiner.attribution_window_ms",
            "checkpoint.file_mode",
        ])
        #expect(found.allSatisfy { $0.code == .invalidValue })
        let port = byKey["http.port"]
        #expect(port?.source == .file(path: "bad.toml", line: 2))
        #expect(port?.description.contains("\"eighty\" is not an integer") == true)
        #expect(port?.description.contains("0...65535") == true)
        #expect(byKey["log.format"]?.hint == "accepted: one of: logfmt, json")
        #expect(byKey["log.format"]?.source == .file(path: "bad.toml", line: 4))
        #expect(byKey["checkpoint.keep"]?.hint == "accepted: 1...10000")
        #expect(byKey["training.batch_size"]?.source == .environment(variable: "HSNN_TRAINING_BATCH_SIZE"))
        #expect(byKey["joiner.attribution_window_ms"]?.hint.contains("\"10m\"") == true)
        #expect(byKey["checkpoint.file_mode"]?.source == .flag("checkpoint.file_mode=0999"))
        let text = ConfigurationError(problems: found).description
        #expect(text.hasPrefix("invalid configuration (6 problems):"))
    }

    @Test func problemDescriptionsReadAsOneLineEach() {
        let found = problems { () throws(ConfigurationError) in
            try loader.load(tomlText: "[http]\nport = 70000\n[log]\nformat = \"xml\"\n", fileName: "/etc/hsnn/hsnn.toml",
                            environment: ["HSNN_CHECKPOINT_DIR_MODE": "4755"])
        }
        #expect(ConfigurationError(problems: found).description == """
            invalid configuration (3 problems):
              - http.port (/etc/hsnn/hsnn.toml:2): 70000 is not allowed; accepted: 0...65535
              - log.format (/etc/hsnn/hsnn.toml:4): "xml" is not allowed; accepted: one of: logfmt, json
              - checkpoint.dir_mode (environment variable HSNN_CHECKPOINT_DIR_MODE): "4755" is not allowed; \
            accepted: at most 0777 (no setuid, setgid or sticky bit)
            """)
    }

    @Test func malformedTOMLReportsLine() {
        let found = problems { () throws(ConfigurationError) in
            try loader.load(tomlText: "[kafka]\nbrokers = \n", fileName: "broken.toml")
        }
        #expect(found.map(\.code) == [.malformedFile])
        #expect(found.first?.source == .file(path: "broken.toml", line: 2))
    }

    @Test func malformedOverrideIsReported() {
        let found = problems { () throws(ConfigurationError) in
            try loader.load(tomlText: "", fileName: "f.toml", overrides: ["http.port"])
        }
        #expect(found.map(\.code) == [.malformedOverride])
    }

    @Test func durationsAcceptUnits() throws {
        let toml = """
        [joiner]
        attribution_window_ms = "15m"
        [checkpoint]
        every_seconds = "1h"
        """
        let config = try loader.load(tomlText: toml, fileName: "f.toml", environment: ["HSNN_KAFKA_POLL_TIMEOUT_MS": "250"],
                                     overrides: ["shutdown.grace_seconds=45"])
        #expect(config.duration("joiner.attribution_window_ms") == .seconds(900))
        #expect(config.duration("checkpoint.every_seconds") == .seconds(3600))
        #expect(config.milliseconds("kafka.poll_timeout_ms") == 250)
        #expect(config.duration("shutdown.grace_seconds") == .seconds(45))
    }

    @Test func fileModesAcceptStringsAndOctalIntegers() throws {
        let config = try loader.load(tomlText: "[checkpoint]\nfile_mode = 0o600\ndir_mode = \"0700\"\n", fileName: "f.toml")
        #expect(config.fileMode("checkpoint.file_mode") == 0o600)
        #expect(config.fileMode("checkpoint.dir_mode") == 0o700)
    }

    @Test func mapEntriesPassThroughFromEveryLayer() throws {
        let toml = """
        [kafka.properties]
        "security.protocol" = "SASL_SSL"
        sasl.mechanisms = "PLAIN"
        "fetch.wait.max.ms" = 50
        "enable.partition.eof" = false
        """
        let config = try loader.load(
            tomlText: toml, fileName: "f.toml",
            environment: ["HSNN_KAFKA_PROPERTIES__SASL_USERNAME": "svc", "HSNN_KAFKA_PROPERTIES__SECURITY_PROTOCOL": "SSL"],
            overrides: ["kafka.properties.sasl.password=hunter2", #"kafka.properties."client.id"=hsnn-1"#])
        #expect(config.stringMap("kafka.properties") == [
            "security.protocol": "SSL",
            "sasl.mechanisms": "PLAIN",
            "fetch.wait.max.ms": "50",
            "enable.partition.eof": "false",
            "sasl.username": "svc",
            "sasl.password": "hunter2",
            "client.id": "hsnn-1",
        ])
        #expect(config.mapEntrySources["kafka.properties"]?["sasl.mechanisms"] == .file(path: "f.toml", line: 3))
        let effective = config.renderEffective()
        #expect(effective.contains(#"properties."sasl.password" = "<redacted>""#))
        #expect(!effective.contains("hunter2"))
        #expect(effective.contains(#"properties."security.protocol" = "SSL"  # environment variable HSNN_KAFKA_PROPERTIES__SECURITY_PROTOCOL"#))
    }

    @Test func wholeMapCannotBeSetFromEnvironmentOrFlag() {
        let found = problems { () throws(ConfigurationError) in
            try loader.load(tomlText: "", fileName: "f.toml", environment: ["HSNN_KAFKA_PROPERTIES": "a=b"],
                            overrides: ["kafka.properties=a"])
        }
        #expect(found.map(\.key) == ["kafka.properties", "kafka.properties"])
        #expect(found.allSatisfy { $0.hint.contains("e.g.") })
    }

    @Test func mapEntryOfWrongKindIsRejected() {
        let found = problems { () throws(ConfigurationError) in
            try loader.load(tomlText: "[kafka.properties]\n\"debug\" = [\"a\"]\n", fileName: "f.toml")
        }
        #expect(found.map(\.key) == ["kafka.properties.debug"])
    }

    @Test func stringListsFromFileEnvironmentAndFlags() throws {
        let schema = ConfigSchema(sections: [
            ConfigSection("demo", doc: "", keys: [
                ConfigKey("demo.hosts", .stringList, default: .stringList([]), doc: "Hosts."),
            ]),
        ], environmentPrefix: "DEMO_")
        let loader = ConfigLoader(schema: schema)
        let fromFile = try loader.load(tomlText: "[demo]\nhosts = [\"a\", \"b\"]\n", fileName: "f.toml")
        #expect(fromFile.stringList("demo.hosts") == ["a", "b"])
        let fromEnvironment = try loader.load(tomlText: "", fileName: "f.toml", environment: ["DEMO_DEMO_HOSTS": "x, y,,z"])
        #expect(fromEnvironment.stringList("demo.hosts") == ["x", "y", "z"])
        let fromFlag = try loader.load(tomlText: "", fileName: "f.toml", overrides: ["demo.hosts=q"])
        #expect(fromFlag.stringList("demo.hosts") == ["q"])
    }

    @Test func sectionsCanBeAdded() throws {
        let schema = ConfigSchema.hsnn.adding(ConfigSection("model", doc: "The model.", keys: [
            ConfigKey("model.embedding_dim", .int, default: .int(64), doc: "Embedding width.", constraints: [.range(1...4096)]),
            ConfigKey("model.learning_rate", .double, default: .double(0.01), doc: "Step size.",
                      constraints: [.range(0.0...1.0)]),
        ]))
        let config = try ConfigLoader(schema: schema).load(
            tomlText: "[model]\nlearning_rate = 1\n", fileName: "f.toml", environment: ["HSNN_MODEL_EMBEDDING_DIM": "128"])
        #expect(config.int("model.embedding_dim") == 128)
        #expect(config.double("model.learning_rate") == 1.0)
        #expect(schema.markdownReference().contains("| `model.embedding_dim` | integer | `64` | `HSNN_MODEL_EMBEDDING_DIM` |"))
    }

    @Test func effectiveConfigurationIsValidTOMLThatLoadsBackToTheSameValues() throws {
        let original = try loader.load(
            tomlText: "[kafka.properties]\n\"client.id\" = \"a\\\"b\"\n[checkpoint]\nevery_seconds = \"1500ms\"\n",
            fileName: "f.toml", overrides: ["log.format=json"])
        let reloaded = try loader.load(tomlText: original.renderEffective(), fileName: "effective.toml")
        #expect(reloaded.values == original.values)
    }
}

@Suite struct TOMLLineLocatorTests {
    @Test func locatesKeysUnderHeadersDottedAndQuoted() {
        let text = """
        top = 1
        [a]
        b = 2
        c.d = 3
        s = \"\"\"
        x = 9
        \"\"\"
        [a."q.r"]
        e = 4
        [[arr]]
        f = 5
        """
        let locator = TOMLLineLocator(text: text)
        #expect(locator.line(for: ["top"]) == 1)
        #expect(locator.line(for: ["a", "b"]) == 3)
        #expect(locator.line(for: ["a", "c", "d"]) == 4)
        #expect(locator.line(for: ["a", "x"]) == 2)  // inside a multi-line string: falls back to the header
        #expect(locator.line(for: ["a", "q.r", "e"]) == 9)
        #expect(locator.line(for: ["arr", "f"]) == 11)
        #expect(locator.line(for: ["nothing"]) == nil)
    }
}
