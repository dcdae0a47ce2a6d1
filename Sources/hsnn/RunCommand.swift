import ArgumentParser
import HSNNMath
import Foundation
import HSNNDaemon
import HSNNOps
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals
import HSNNSupport

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

/// Ends the process when a graceful stop outlasts `shutdown.grace_seconds`.
///
/// Listed last in the service group, so it is the first service told about the shutdown: it
/// then arms a timer and returns. The daemon publishes its final checkpoint within 60% of the
/// grace period (retrying); what follows (leaving the consumer group, flushing the
/// dead-letter producer, stopping the embedded broker) waits on the broker and can block for
/// librdkafka's request timeouts when the broker is frozen. When the timer fires first, the
/// process exits with the status the daemon settled on once its final state was known (0 when
/// it was saved), or 75 when the final checkpoint was still not written.
final class ShutdownDeadline: Service, Sendable {
    let grace: Duration
    let status: DaemonStatusBoard
    let logger: Logger
    private let disarmed = Atomic<Bool>(false)

    init(grace: Duration, status: DaemonStatusBoard, logger: Logger) {
        self.grace = grace
        self.status = status
        self.logger = logger
    }

    /// The process stopped in time: the timer, if armed, does nothing.
    func disarm() { disarmed.store(true, ordering: .sequentiallyConsistent) }

    /// Left for the process to exit after the deadline: a tenth of the grace period, at most 250 ms.
    static func budget(for grace: Duration) -> Duration {
        grace - min(grace / 10, .milliseconds(250))
    }

    func run() async throws {
        do { try await gracefulShutdown() } catch { return }
        let deadline = ContinuousClock.now + Self.budget(for: grace)
        let (status, logger, grace) = (status, logger, grace)
        let timer = Thread {
            let wait = ContinuousClock.now.duration(to: deadline)
            if wait > .zero {
                Thread.sleep(forTimeInterval: wait.inSeconds)
            }
            guard !self.disarmed.load(ordering: .sequentiallyConsistent) else { return }
            let progress = status.stopProgress
            let code = progress?.exitCode ?? FinalCheckpointError.exitCode
            let step = progress?.step ?? "stopping"
            if code == FinalCheckpointError.exitCode {
                logger.critical("shutdown.grace_seconds (\(grace)) elapsed while \(step); the final checkpoint was not written, so the examples trained since the previous version are trained again from Kafka after the restart; exiting now", metadata: [
                    "process.exit_code": "\(code)"])
            } else {
                logger.notice("shutdown.grace_seconds (\(grace)) elapsed while \(step); the final state is saved, exiting now without waiting for it", metadata: [
                    "process.exit_code": "\(code)"])
            }
            fflush(nil)
            _exit(code)
        }
        timer.start()
    }
}
