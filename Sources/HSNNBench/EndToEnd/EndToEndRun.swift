import HSNNDaemon
import HSNNKafka
import HSNNModel
import HSNNPipeline
import HSNNSynth
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The daemon (as `hsnn run` builds it) on an in-process mock broker plus a producer thread, for a fixed time.
struct EndToEndRun {
    /// librdkafka's mock cluster keeps at most 5 MiB per partition and drops the oldest messages
    /// beyond, read or not: the producer must stay less than that ahead of the consumer.
    static let mockRetentionBytesPerPartition = 5 << 20

    var settings: DaemonSettings
    var model: ModelConfig
    /// `items.ttl_ms`, as `hsnn run` passes it to the learner.
    var itemTTLMs: Int64
    var synth: SynthConfig
    var duration: Double
    var sampleEvery: Double
    /// Partitions of the events topic on the mock broker.
    var partitions: Int
    /// Most events the producer keeps ahead of the daemon in each partition.
    var lead: Int
    var metrics: BenchMetrics
    var logger: Logger

    func run() async throws -> EndToEndResult {
        let status = DaemonStatusBoard()
        // The mock cluster outlives every client: the daemon's are closed when the group returns,
        // the producer's when the driver returns.
        var settings = settings
        var cluster: MockKafkaCluster?
        if settings.usesEmbeddedBroker {
            let mock = try MockKafkaCluster(brokers: 1, logger: logger)
            try mock.createTopic(settings.eventsTopic, partitions: partitions)
            try mock.createTopic(settings.itemsTopic, partitions: 1)
            settings.brokers = mock.bootstrapServers
            cluster = mock
        }
        let daemon = StreamTrainingService(
            settings: settings, factory: HSNNLearnerFactory(config: model, itemTTLMs: itemTTLMs, logger: logger),
            status: status, notifier: nil, logger: logger)
        let driver = EndToEndDriver(
            settings: settings, synth: synth, duration: duration, sampleEvery: sampleEvery, partitions: partitions, lead: lead,
            status: status, metrics: metrics, bootstrap: settings.brokers, logger: logger)
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [
                .init(service: driver, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: daemon, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger))
        try await group.run()
        // The daemon's last Kafka handles are released by tasks that end just after the group
        // returns; a broker gone before them makes them log refused reconnects.
        try? await Task.sleep(for: .seconds(1))
        withExtendedLifetime(cluster) {}
        cluster = nil
        guard var result = driver.result.withLock({ $0 }) else {
            throw BenchmarkError.invalid("the daemon stopped before the run started; run with --set log.level=info to see why")
        }
        let final = status.current
        result.finalStatus = final
        result.recordsLost = final.offsets.values.reduce(0, +) - (final.pipeline.events + final.pipeline.skippedMalformed)
        result.backpressurePauses = final.backpressurePauses
        result.publishFailures = metrics.counter("hsnn_checkpoint_failed_total")
        result.checkpointBytes = metrics.gauge("hsnn_checkpoint_bytes")
        return result
    }
}
