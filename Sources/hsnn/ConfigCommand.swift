import ArgumentParser
import HSNNMath
import HSNNDaemon
import HSNNOps

/// Options that load the layered configuration: a TOML file, `HSNN_*` environment
/// variables, then `--set key=value` flags.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "TOML configuration file (see config/README.md).")
    var config: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Override one key, e.g. --set kafka.brokers=host:9092 (repeatable).", valueName: "key=value"))
    var overrides: [String] = []

    /// The configuration after every check `hsnn run` makes before it starts anything, or a
    /// `ValidationError` listing every problem with its key and source.
    func load() throws -> Configuration { try validated().configuration }

    /// Like ``load()``, with the settings and the model configuration it was checked as.
    func validated() throws -> ValidatedConfiguration { try Self.validated(file: config, overrides: overrides) }

    static func load(file: String?, overrides: [String]) throws -> Configuration {
        try validated(file: file, overrides: overrides).configuration
    }

    /// Loads the layered configuration and runs ``ValidatedConfiguration``'s checks: the same
    /// for `hsnn run`, `hsnn config check`, `hsnn demo` and `hsnn train --config`.
    static func validated(file: String?, overrides: [String]) throws -> ValidatedConfiguration {
        let configuration: Configuration
        do {
            // The variables that steer the OpenBLAS kernel selection (one is set by the process
            // itself when it restarts with a better kernel) are not configuration keys.
            configuration = try ConfigLoader(
                schema: ModelSettings.schema,
                ignoredEnvironmentVariables: [BLASEnvironment.reexecMarker, BLASEnvironment.autoselect])
                .load(file: file, overrides: overrides)
        } catch {
            throw ValidationError(error.description)
        }
        do {
            return try ValidatedConfiguration(configuration)
        } catch {
            throw ValidationError(error.description)
        }
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
            let validated = try ConfigOptions.validated(file: file, overrides: overrides)
            print(validated.configuration.renderEffective(), terminator: "")
        }
    }

    struct Reference: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the reference of every key (markdown).")

        func run() {
            print(ModelSettings.schema.markdownReference(), terminator: "")
        }
    }
}
