import ArgumentParser
import HSNNDaemon

/// `hsnn run`: the daemon.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the training daemon: consume events from Kafka, train continuously, publish checkpoints.",
        discussion: """
            Configuration comes from --config FILE (TOML, see config/README.md), then HSNN_* environment \
            variables, then --set key=value flags. With kafka.brokers = "embedded" an in-process Kafka broker \
            is started and its address logged. SIGTERM or SIGINT stop it gracefully: consuming stops, the \
            chunk in progress finishes, the final state is published and the process exits 0.
            """)

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let configuration = try options.load()
        try await DaemonRuntime(configuration: configuration, blasReport: HSNNCommand.blasReport).runForCommandLine()
    }
}

extension DaemonRuntime {
    /// Runs the daemon, turning its failures into the command's exit status: 1 when OpenBLAS
    /// failed its self-check, a usage error listing every configuration problem, and (with
    /// `finalCheckpointStatus`) ``FinalCheckpointError/exitCode`` when the final state was not saved.
    func runForCommandLine(finalCheckpointStatus: Bool = true) async throws {
        do {
            try await run()
        } catch DaemonRuntimeError.blasSelfCheckFailed {
            throw ExitCode(1)
        } catch let error as ConfigurationRejected {
            throw ValidationError(error.description)
        } catch is FinalCheckpointError where finalCheckpointStatus {
            // Already logged; the distinct status tells systemd and operators that state was lost.
            throw ExitCode(FinalCheckpointError.exitCode)
        }
    }
}
