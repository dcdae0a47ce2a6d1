import HSNNMath
import HSNNOps
import Logging
import ServiceLifecycle
import UnixSignals

/// Everything `hsnn run` (and `hsnn demo`) start: logging, metrics, the ops HTTP listener, the
/// systemd watchdog and the stream training service, in one service group.
package struct DaemonRuntime {
    let configuration: Configuration
    let status: DaemonStatusBoard
    /// What OpenBLAS kernel selection found; logged once logging is set up, and training is
    /// refused when the library failed its self-check.
    let blasReport: BLASKernelReport?
    var onBrokerStarted: (@Sendable (String) -> Void)?
    /// Services that run beside the daemon; one that returns shuts the group down gracefully.
    package var extraServices: [any Service] = []

    package init(configuration: Configuration, blasReport: BLASKernelReport?, status: DaemonStatusBoard = DaemonStatusBoard(),
                 onBrokerStarted: (@Sendable (String) -> Void)? = nil) {
        self.configuration = configuration
        self.blasReport = blasReport
        self.status = status
        self.onBrokerStarted = onBrokerStarted
    }

    /// Runs until graceful shutdown.
    /// - Throws: ``DaemonRuntimeError/blasSelfCheckFailed`` (already logged),
    ///   ``ConfigurationRejected`` before anything is started, ``FinalCheckpointError`` when
    ///   the final state could not be saved, and any error that stopped a service.
    package func run() async throws {
        LineLogHandler.bootstrap(configuration)
        let metrics = PrometheusMetrics.bootstrap()
        let logger = Logger(label: "hsnn")
        if let report = blasReport {
            logger.info("\(report.summary)", metadata: .init(uniqueKeysWithValues: report.fields.map { ($0.key, .string($0.value)) }))
            do { try report.requireVerified() } catch {
                logger.critical("OpenBLAS failed its self-check; refusing to train", metadata: ["error": "\(error)"])
                throw DaemonRuntimeError.blasSelfCheckFailed
            }
        }
        let threads = configuration.int("training.threads")
        try BLASThreads.set(threads > 0 ? threads : BLASThreads.processorCount)

        // The same checks as `hsnn config check`, before anything is bound, joined or written.
        let validated = try ValidatedConfiguration(configuration)
        let settings = validated.settings
        let factory = HSNNLearnerFactory(config: validated.model, itemTTLMs: configuration.milliseconds("items.ttl_ms"), logger: logger)
        let notifier = SystemdNotifier()
        let status = status
        let http = OpsHTTPServer(
            binding: .init(configuration), metrics: metrics,
            readiness: {
                let r = status.isReady
                return Readiness(isReady: r.ready, reason: r.reason)
            },
            status: { status.current }, logger: logger)
        // The daemon joins Kafka and opens the checkpoint directory only once the port is bound.
        let service = StreamTrainingService(settings: settings, factory: factory, status: status, notifier: notifier,
                                            logger: logger, onBrokerStarted: onBrokerStarted,
                                            startGate: { _ = try await http.boundPort() })
        let watchdog = SystemdWatchdog(logger: logger, isHealthy: { status.current.consuming })
        var groupConfiguration = ServiceGroupConfiguration(
            services: [
                .init(service: watchdog),
                .init(service: http),
            ] + extraServices.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) } + [
                .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger)
        // The deadline ends the process before the group would cancel its services, so a stop that
        // is merely slow (a frozen broker while leaving the group) is not reported as a failure.
        groupConfiguration.maximumGracefulShutdownDuration = settings.shutdownGrace + .seconds(1)
        let deadline = ShutdownDeadline(grace: settings.shutdownGrace, status: status, logger: logger)
        groupConfiguration.services.append(.init(service: deadline))
        // Once the group has stopped there is nothing left to cut short (`hsnn demo` goes on to evaluate).
        defer { deadline.disarm() }
        try await ServiceGroup(configuration: groupConfiguration).run()
    }
}

/// Why ``DaemonRuntime`` refused to start.
package enum DaemonRuntimeError: Error, Sendable {
    /// OpenBLAS failed its self-check (logged as critical); the process should exit 1.
    case blasSelfCheckFailed
}
