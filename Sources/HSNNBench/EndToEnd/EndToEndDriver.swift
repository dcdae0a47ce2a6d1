import HSNNDaemon
import HSNNPipeline
import HSNNSynth
import Logging
import ServiceLifecycle
import Synchronization
import HSNNSupport

/// Starts the producer once the broker runs, samples the daemon every second for the run's
/// duration, then returns (which shuts the daemon down gracefully).
final class EndToEndDriver: Service, Sendable {
    let settings: DaemonSettings
    let synth: SynthConfig
    let duration: Double
    let sampleEvery: Double
    let partitions: Int
    let lead: Int
    let status: DaemonStatusBoard
    let metrics: BenchMetrics
    let bootstrap: String
    let logger: Logger
    let result = Mutex<EndToEndResult?>(nil)

    init(settings: DaemonSettings, synth: SynthConfig, duration: Double, sampleEvery: Double, partitions: Int, lead: Int,
         status: DaemonStatusBoard, metrics: BenchMetrics, bootstrap: String, logger: Logger) {
        self.settings = settings
        self.synth = synth
        self.duration = duration
        self.sampleEvery = sampleEvery
        self.partitions = partitions
        self.lead = lead
        self.status = status
        self.metrics = metrics
        self.bootstrap = bootstrap
        self.logger = logger
    }

    private var stopping: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
    /// Records the training thread takes from the ingest queue at a time.
    static let trainingChunk: Int64 = 512

    func run() async throws {
        let producer = BenchProducer()
        producer.start(synth: synth, bootstrap: bootstrap, settings: settings, partitions: partitions, lead: lead,
                       status: status)

        let clock = ContinuousClock()
        let start = clock.now
        let cpuStart = CPUTime.process()
        var samples: [MemorySample] = []
        var maxInProcess: Int64 = 0
        var secondsPaused = 0.0
        var secondsStarved = 0.0
        var exhaustedAt: Double?
        var last = (seconds: 0.0, events: Int64(0), cpu: cpuStart)
        var nextSample = sampleEvery
        var previousTick = 0.0
        var warmThreads: (seconds: Double, cpu: [String: Double])?
        func elapsed() -> Double { (clock.now - start).inSeconds }

        while !stopping {
            try? await Task.sleep(for: .milliseconds(250))
            let t = elapsed()
            let s = status.current
            let processed = s.pipeline.events + s.pipeline.skippedMalformed
            let waiting = metrics.counter("hsnn_ingest_records_total") - processed
            maxInProcess = max(maxInProcess, waiting)
            if s.pausedForBackpressure { secondsPaused += t - previousTick }
            // Less than one training chunk polled and not trained: the trainer has (almost) nothing to do.
            if waiting < Self.trainingChunk { secondsStarved += t - previousTick }
            previousTick = t
            if exhaustedAt == nil, producer.exhausted.load(ordering: .relaxed) { exhaustedAt = t }
            if warmThreads == nil, t >= duration / 4 { warmThreads = (t, ThreadCPU.byName()) }
            if t >= nextSample || t >= duration {
                let cpu = CPUTime.process()
                let interval = max(t - last.seconds, 1e-9)
                samples.append(MemorySample(
                    seconds: t, rssMiB: ProcessMemory.residentMiB(), eventsProcessed: s.pipeline.events,
                    examplesTrained: s.pipeline.examplesTrained,
                    eventsPerSecond: Double(s.pipeline.events - last.events) / interval,
                    cpuPercent: 100 * (cpu - last.cpu) / interval, cpuSeconds: cpu - cpuStart, pausedForBackpressure: s.pausedForBackpressure,
                    backpressurePauses: s.backpressurePauses, trainerIdleSeconds: s.trainerIdleSeconds,
                    ingestBlockedSeconds: s.ingestBlockedSeconds, modelVersion: s.modelVersion))
                last = (t, s.pipeline.events, cpu)
                nextSample += sampleEvery
                if !samples.isEmpty, Int(samples.count) % 6 == 0 {
                    logger.notice("bench progress", metadata: [
                        "bench.seconds": "\(Int(t))", "bench.rss_mib": "\(Int(samples.last!.rssMiB))",
                        "training.examples": "\(s.pipeline.examplesTrained)"])
                }
            }
            if t >= duration { break }
        }
        let measured = elapsed()
        let cpuSeconds = CPUTime.process() - cpuStart
        let endThreads = ThreadCPU.byName()
        let since = warmThreads ?? (0, [:])
        let window = max(measured - since.seconds, 1e-9)
        let used = endThreads.merging(since.cpu.mapValues { -$0 }) { $0 + $1 }
        let windowCPU = max(used.values.reduce(0) { $0 + max($1, 0) }, 1e-9)
        let threads = used.filter { $0.value > 0.005 * window }.sorted { $0.value > $1.value }.map {
            ThreadShare(thread: $0.key, cpuSeconds: $0.value, percentOfProcess: 100 * $0.value / windowCPU, cores: $0.value / window)
        }
        let final = status.current
        await producer.stop()
        let cutoff = start + .seconds(measured)
        result.withLock {
            $0 = EndToEndResult(
                samples: samples, measuredSeconds: measured, eventsProcessed: final.pipeline.events,
                examplesTrained: final.pipeline.examplesTrained, produced: producer.produced.load(ordering: .relaxed),
                producerExhaustedAt: exhaustedAt, producerError: producer.error.withLock { $0 }, leadLimit: lead, partitions: partitions,
                maxInProcess: maxInProcess, queueCapacity: settings.queueCapacity, secondsPaused: secondsPaused,
                secondsStarved: secondsStarved,
                backpressurePauses: 0, maxPartitionLead: producer.maxPartitionLead.load(ordering: .relaxed),
                maxTotalLead: producer.maxTotalLead.load(ordering: .relaxed),
                snapshotPauses: metrics.timerValues("hsnn_checkpoint_snapshot_pause_seconds", before: cutoff),
                publishSeconds: metrics.timerValues("hsnn_checkpoint_publish_seconds", before: cutoff),
                publishFailures: 0, checkpointBytes: nil, finalStatus: final, recordsLost: 0, cpuSeconds: cpuSeconds,
                threads: threads)
        }
    }
}
