import ArgumentParser
import BLASRuntime
import HSNNDaemon
import HSNNOps

/// Options that load the layered configuration: a TOML file, `HSNN_*` environment
/// variables, then `--set key=value` flags.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "TOML configuration file (see config/README.md).")
    var config: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override one key, e.g. --set kafka.brokers=host:9092 (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    /// The configuration, or a `ValidationError` listing every problem with its key and source
    /// (or the settings that contradict each other).
    func load() throws -> Configuration { try Self.load(file: config, overrides: overrides) }

    static func load(file: String?, overrides: [String]) throws -> Configuration {
        let configuration: Configuration
        do {
            // The BLAS kernel selection marks its own restart with an HSNN_ variable that is not a key.
            configuration = try ConfigLoader(schema: ModelSettings.schema, ignoredEnvironmentVariables: [BLASEnvironment.reexecMarker])
                .load(file: file, overrides: overrides)
        } catch {
            throw ValidationError(error.description)
        }
        do {
            try DaemonSettings(configuration).validate()
        } catch {
            throw ValidationError(error.description)
        }
        return configuration
    }
}

/// `hsnn config ...`: validate and render configuration.
struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Validate a configuration without starting the daemon.",
        subcommands: [Check.self, Reference.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load FILE with the environment and --set overrides applied; print the effective configuration, or every problem (exit 1).")

        @Argument(help: "The TOML configuration file.")
        var file: String

        @Option(name: .customLong("set"), help: ArgumentHelp("Override one key (repeatable).", valueName: "key=value"))
        var overrides: [String] = []

        func run() throws {
            let configuration = try ConfigOptions.load(file: file, overrides: overrides)
            print(configuration.renderEffective(), terminator: "")
        }
    }

    struct Reference: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the reference of every key (markdown).")

        func run() {
            print(ModelSettings.schema.markdownReference(), terminator: "")
        }
    }
}
