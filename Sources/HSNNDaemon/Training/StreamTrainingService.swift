import Foundation
import HSNNCheckpoint
import HSNNEvents
import HSNNKafka
import HSNNOps
import HSNNPipeline
import Logging
import Metrics
import ServiceLifecycle
import HSNNSupport

/// The long-running service: consumes events from Kafka, trains continuously, and
/// publishes checkpoints.
///
/// Threads: one polls Kafka and decodes, one trains, one writes checkpoints; none of them
/// runs on the Swift cooperative pool. On graceful shutdown (SIGTERM through the
/// `ServiceGroup`) it stops consuming, finishes the chunk in progress, publishes the final
/// state, commits its offsets and leaves the group.
public final class StreamTrainingService: Service, Sendable {
    public let settings: DaemonSettings
    public let status: DaemonStatusBoard
    private let factory: any LearnerFactory
    private let logger: Logger
    private let notifier: SystemdNotifier?
    private let onBrokerStarted: (@Sendable (String) -> Void)?
    private let startGate: (@Sendable () async throws -> Void)?
    private let metrics = ServiceMetrics()

    /// - Parameters:
    ///   - onBrokerStarted: called with the bootstrap address once the embedded broker runs
    ///     (only with `kafka.brokers = "embedded"`).
    ///   - startGate: awaited before anything else (the operations listener binding its port):
    ///     when it throws, the daemon stops without starting a broker, joining the group or
    ///     touching the checkpoint directory.
    public init(settings: DaemonSettings, factory: any LearnerFactory, status: DaemonStatusBoard = DaemonStatusBoard(),
                notifier: SystemdNotifier? = nil, logger: Logger, onBrokerStarted: (@Sendable (String) -> Void)? = nil,
                startGate: (@Sendable () async throws -> Void)? = nil) {
        self.settings = settings
        self.factory = factory
        self.status = status
        self.notifier = notifier
        self.logger = logger
        self.onBrokerStarted = onBrokerStarted
        self.startGate = startGate
    }

    /// Runs until graceful shutdown.
    /// - Throws: ``DaemonSettingsError`` when the settings contradict each other, the start
    ///   gate's error, ``FinalCheckpointError`` when the final state could not be saved, and
    ///   any error that stops the daemon (checkpoint directory, Kafka client creation, ...).
    public func run() async throws {
        let s = settings
        try s.validate()
        try s.consumerConfiguration(bootstrap: s.usesEmbeddedBroker ? "127.0.0.1:9092" : s.brokers).validate()
        if let startGate { try await startGate() }
        let broker: EmbeddedBroker? = s.usesEmbeddedBroker
            ? try EmbeddedBroker(eventsTopic: s.eventsTopic, itemsTopic: s.itemsTopic, logger: logger) : nil
        let bootstrap = broker?.bootstrapServers ?? s.brokers
        if let broker {
            logger.info("embedded Kafka broker started", metadata: ["kafka.bootstrap": "\(broker.bootstrapServers)"])
            onBrokerStarted?(broker.bootstrapServers)
        }
        // Every Kafka client lives inside `consumeAndTrain`, so all are gone before the broker.
        defer { withExtendedLifetime(broker) {} }
        try await consumeAndTrain(bootstrap: bootstrap)
        if broker != nil { status.stopStep("stopping the embedded broker") }
        logger.info("stopped", metadata: ["training.examples": "\(status.current.pipeline.examplesTrained)"])
    }

    private func consumeAndTrain(bootstrap: String) async throws {
        let s = settings
        let store = try CheckpointStore(
            directory: URL(fileURLWithPath: s.checkpointDirectory),
            options: CheckpointStoreOptions(keepVersions: s.checkpointKeep, fileMode: s.checkpointFileMode, folderMode: s.checkpointFolderMode),
            logger: logger)
        let restored = try await onDedicatedThread { OwnershipTransfer(try self.restore(from: store)) }
        let (learner, pipelineState, fellBack) = restored.value
        let pipeline = pipelineState.map {
            LearnerFeed(learner: learner, joinerConfiguration: s.joiner, batchSize: s.batchSize, state: $0)
        } ?? LearnerFeed(learner: learner, joiner: ImpressionClickJoiner(configuration: s.joiner), batchSize: s.batchSize)

        // The restored state's counters are the daemon's from the start (until the first chunk).
        status.update(counters: pipeline.allCounters, offsets: pipeline.nextOffsets, learner: learner.progress())
        if s.failOnDataLoss {
            logger.notice("kafka.on_data_loss = fail: records the broker deleted before they were trained stop the daemon")
        } else {
            logger.notice("kafka.on_data_loss = continue: records the broker deleted before they were trained are logged as errors, counted in hsnn_ingest_records_lost_total, and skipped")
        }
        let (fatalErrors, fatal) = AsyncStream<DataLossError>.makeStream()
        let queue = IngestQueue<IngestItem>(capacity: s.queueCapacity)
        let caughtUp = CaughtUpSignal()
        let coordinator = RebalanceCoordinator(status: status, logger: logger)
        if fellBack, let pipelineState {
            // The group's committed offsets came from the versions that failed verification.
            coordinator.preferRestoredOffsets(for: Set(pipelineState.nextOffsets.keys))
        }
        let consumer = try KafkaConsumer(
            configuration: s.consumerConfiguration(bootstrap: bootstrap), rebalanceHandler: coordinator, logger: logger)
        let deadLetter = try s.deadLetterTopic.map { topic in
            try DeadLetterWriter(topic: topic, configuration: s.deadLetterConfiguration(bootstrap: bootstrap), logger: logger)
        }
        let publisher = CheckpointPublisher(store: store, status: status, logger: logger,
                                            retryInitial: s.publishRetryInitial, retryMax: s.publishRetryMax,
                                            latestState: fellBack ? nil : pipelineState) { offsets in
            coordinator.commit(offsets)
        }
        let trainer = TrainerThread(
            pipeline: pipeline, learner: learner, queue: queue, maxBatchDelay: s.maxBatchDelay, caughtUp: caughtUp,
            snapshotEverySeconds: s.checkpointEverySeconds, snapshotEveryEvents: s.checkpointEveryEvents, status: status,
            onSnapshot: { publisher.submit($0) })
        var deadLetterSink: (@Sendable (RejectedRecord) -> Void)?
        if let deadLetter { deadLetterSink = { deadLetter.write($0) } }
        let poller = IngestPoller(
            consumer: consumer, queue: queue,
            decoder: KafkaRecordDecoder(decoder: EventDecoder(limits: s.decoderLimits), catalogTopic: s.itemsTopic),
            pollTimeout: s.pollTimeout, pauseAfter: s.pauseAfter, lossPolicy: s.failOnDataLoss ? .fail : .continue,
            livenessTimeout: s.livenessTimeout, catalogLead: s.maxAheadOfCatalog, status: status, logger: logger,
            deadLetter: deadLetterSink, caughtUp: caughtUp, onDataLoss: { fatal.yield($0) })
        coordinator.attach(.init(consumer: consumer, trainer: trainer, poller: poller, queue: queue, publisher: publisher))

        try consumer.subscribe(topics: [s.eventsTopic, s.itemsTopic])
        publisher.start()
        trainer.start()
        poller.start()
        try? notifier?.notify([.ready, .status("consuming \(s.eventsTopic), \(s.itemsTopic)")])
        logger.info("daemon started", metadata: ["kafka.bootstrap": "\(bootstrap)", "kafka.group": "\(s.groupID)",
                                                 "checkpoint.dir": "\(s.checkpointDirectory)"])

        let progress = Task { await self.reportProgress(consumer: consumer) }
        // Runs until graceful shutdown, or until a loss of records stops it (kafka.on_data_loss = fail).
        let stopReason: DataLossError? = await withTaskGroup(of: DataLossError?.self) { group in
            group.addTask {
                try? await gracefulShutdown()
                return nil
            }
            group.addTask {
                for await error in fatalErrors { return error }
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            fatal.finish()
            return first
        }
        progress.cancel()
        await progress.value

        logger.info("stopping: finishing the chunk in progress and publishing the final state")
        try? notifier?.notify([.stopping, .status("stopping: publishing the final checkpoint")])
        let stopStarted = ContinuousClock.now
        let finalFailure = try await onDedicatedThread { () -> FinalCheckpointError? in
            self.status.stopStep("finishing the chunk in progress")
            poller.stop()
            trainer.stop()
            publisher.stop()
            self.status.stopStep("publishing the final checkpoint")
            let failure = self.publishFinal(trainer.snapshot(), with: publisher,
                                            deadline: stopStarted + s.shutdownGrace * Self.finalPublishShare)
            let exitCode: Int32 = failure != nil ? FinalCheckpointError.exitCode : (stopReason != nil ? 1 : 0)
            self.status.stopStep("leaving the consumer group", exitCode: exitCode)
            coordinator.beginClosing()
            do { try consumer.close() } catch {
                self.logger.warning("leaving the consumer group failed", metadata: ["error": "\(error)"])
            }
            self.status.stopStep("flushing the dead-letter producer")
            deadLetter?.close()
            self.status.stopStep("releasing the Kafka clients")
            // The consumer holds the coordinator (its rebalance handler) and the coordinator
            // holds the consumer: break the cycle so the client is destroyed before the broker.
            coordinator.detach()
            return failure
        }
        if let finalFailure { throw finalFailure }
        if let stopReason {
            logger.critical("stopped because records were lost", metadata: ["error": "\(stopReason)"])
            throw stopReason
        }
    }

    /// Share of `shutdown.grace_seconds` the final publish may spend retrying; the rest is
    /// left for leaving the group and flushing.
    static let finalPublishShare = 0.6

    /// Publishes the final state, retrying with backoff (250 ms, doubling up to 4 s) until
    /// `deadline`. Returns the failure when no attempt succeeded.
    private func publishFinal(_ snapshot: TrainerSnapshot, with publisher: CheckpointPublisher,
                              deadline: ContinuousClock.Instant) -> FinalCheckpointError? {
        var delay = Duration.milliseconds(250)
        var attempts = 0
        while true {
            attempts += 1
            do {
                try publisher.publishNow(snapshot)
                return nil
            } catch {
                let now = ContinuousClock.now
                guard now + delay < deadline else {
                    let failure = FinalCheckpointError(
                        attempts: attempts, examplesNotSaved: snapshot.pipeline.counters.examplesTrained, underlying: "\(error)")
                    logger.critical("\(failure.description)", metadata: [
                        "checkpoint.attempts": "\(attempts)", "error": "\(error)",
                        "process.exit_code": "\(FinalCheckpointError.exitCode)"])
                    return failure
                }
                logger.warning("final checkpoint failed; retrying", metadata: [
                    "checkpoint.attempts": "\(attempts)", "checkpoint.retry_in_ms": "\(delay.inMilliseconds)",
                    "error": "\(error)"])
                Thread.sleep(forTimeInterval: delay.inSeconds)
                delay = min(delay * 2, .seconds(4))
            }
        }
    }

    /// Loads the newest checkpoint that verifies, falling back past corrupt ones (`fellBack`).
    private func restore(from store: CheckpointStore) throws -> (any CheckpointableLearner, LearnerFeed.State?, fellBack: Bool) {
        guard let loaded = try store.loadLatestVerified() else {
            logger.info("no checkpoint yet: starting from a fresh model", metadata: ["checkpoint.dir": "\(store.directory.path)"])
            return (try factory.makeFresh(), nil, false)
        }
        for rejection in loaded.rejected {
            metrics.checkpointRejected().increment()
            logger.error("checkpoint version is corrupt and was skipped", metadata: [
                "checkpoint.version": "\(rejection.version.folderName)", "error": "\(rejection.reason)"])
        }
        let learner = try factory.load(from: loaded.folder)
        let state = try PipelineStateFile.read(from: loaded.folder)
        status.modify { $0.modelVersion = Int64(loaded.version.number) }
        metrics.checkpointVersion().record(Double(loaded.version.number))
        logger.info("resumed from checkpoint", metadata: [
            "checkpoint.version": "\(loaded.version.folderName)", "training.examples": "\(state.counters.examplesTrained)",
            "checkpoint.offsets": "\(state.nextOffsets.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
        ])
        return (learner, state, !loaded.rejected.isEmpty)
    }

    /// Logs one progress line every few seconds and keeps lag metrics and systemd's STATUS current.
    private func reportProgress(consumer: KafkaConsumer) async {
        // Counted from the restored state, so the first rate is not inflated by the checkpoint's examples.
        var lastExamples = status.current.pipeline.examplesTrained
        var lastTime = ContinuousClock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(5))
            if Task.isCancelled { break }
            if let stats = consumer.statistics {
                var lag: [String: Int64] = [:]
                for (tp, partition) in stats.partitions {
                    if let value = partition.consumerLag, value >= 0 {
                        lag[tp.description] = value
                        metrics.consumerLag(tp.topic, "\(tp.partition)").record(Double(value))
                    }
                }
                status.modify { $0.lag = lag }
            }
            let now = ContinuousClock.now
            let current = status.current
            let elapsed = lastTime.duration(to: now)
            let seconds = elapsed.inSeconds
            let rate = seconds > 0 ? Double(current.pipeline.examplesTrained - lastExamples) / seconds : 0
            lastExamples = current.pipeline.examplesTrained
            lastTime = now
            status.modify { $0.eventsPerSecond = rate }
            let totalLag = current.lag.values.reduce(0, +)
            logger.info("progress", metadata: [
                "training.examples": "\(current.pipeline.examplesTrained)", "training.examples_per_second": "\(Int(rate))",
                "kafka.lag": "\(totalLag)", "joiner.pending": "\(current.joiner.pendingImpressions)",
                "checkpoint.version": "\(current.modelVersion.map(String.init) ?? "none")",
                "training.loss": "\(String(format: "%.4f", current.learner["loss"] ?? .nan))",
                "index.live_items": "\(Int(current.learner["live_items"] ?? 0))",
            ])
            try? notifier?.notify([.status("trained \(current.pipeline.examplesTrained) examples, \(Int(rate))/s, lag \(totalLag)")])
        }
    }
}
