import ArgumentParser
import BLASRuntime
import Foundation
import HSNNDaemon
import HSNNOps
import Logging
import ServiceLifecycle
import UnixSignals

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
        do {
            try await DaemonRuntime(configuration: configuration).run()
        } catch is FinalCheckpointError {
            // Already logged; the distinct status tells systemd and operators that state was lost.
            throw ExitCode(FinalCheckpointError.exitCode)
        }
    }
}

/// Everything `hsnn run` (and `hsnn demo`) start: logging, metrics, the ops HTTP listener, the
/// systemd watchdog and the training daemon, in one service group.
struct DaemonRuntime {
    let configuration: Configuration
    let status: DaemonStatusBoard
    var onBrokerStarted: (@Sendable (String) -> Void)?
    /// Services that run beside the daemon; one that returns shuts the group down gracefully.
    var extraServices: [any Service] = []

    init(configuration: Configuration, status: DaemonStatusBoard = DaemonStatusBoard(),
         onBrokerStarted: (@Sendable (String) -> Void)? = nil) {
        self.configuration = configuration
        self.status = status
        self.onBrokerStarted = onBrokerStarted
    }

    func run() async throws {
        LineLogHandler.bootstrap(configuration)
        let metrics = PrometheusMetrics.bootstrap()
        let logger = Logger(label: "hsnn")
        if let report = HSNNCommand.blasReport {
            logger.info("\(report.summary)", metadata: .init(uniqueKeysWithValues: report.fields.map { ($0.key, .string($0.value)) }))
            do { try report.requireVerified() } catch {
                logger.critical("OpenBLAS failed its self-check; refusing to train", metadata: ["error": "\(error)"])
                throw ExitCode(1)
            }
        }
        let threads = configuration.int("training.threads")
        try BLASThreads.set(threads > 0 ? threads : BLASThreads.processorCount)

        // The same checks as `hsnn config check`, before anything is bound, joined or written.
        let validated: ValidatedConfiguration
        do {
            validated = try ValidatedConfiguration(configuration)
        } catch {
            throw ValidationError(error.description)
        }
        let settings = validated.settings
        let factory = HSNNLearnerFactory(config: validated.model, itemTTLMs: configuration.milliseconds("items.ttl_ms"), logger: logger)
        let notifier = SystemdNotifier()
        let http = OpsHTTPServer(
            binding: .init(configuration), metrics: metrics,
            readiness: {
                let r = status.isReady
                return Readiness(isReady: r.ready, reason: r.reason)
            },
            status: { status.current }, logger: logger)
        // The daemon joins Kafka and opens the checkpoint directory only once the port is bound.
        let daemon = TrainingDaemon(settings: settings, factory: factory, status: status, notifier: notifier,
                                    logger: logger, onBrokerStarted: onBrokerStarted,
                                    startGate: { _ = try await http.boundPort() })
        let watchdog = SystemdWatchdog(logger: logger, isHealthy: { status.current.consuming })
        var groupConfiguration = ServiceGroupConfiguration(
            services: [
                .init(service: watchdog),
                .init(service: http),
            ] + extraServices.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) } + [
                .init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = settings.shutdownGrace
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}
