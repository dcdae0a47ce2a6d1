import HSNNMath
import CoreMetrics
import Foundation
import HSNNDaemon
import HSNNModel
import HSNNOps
import HSNNSynth
import Logging
import HSNNSupport

/// Every stage of the daemon on its own, then the whole daemon at full rate for a long run, side by
/// side on the same synthetic stream (`hsnn bench e2e`).
public enum EndToEndBenchmark {
    /// What to run.
    public struct Parameters: Sendable {
        /// Length of the end-to-end run in seconds.
        public var duration: Double
        /// Seconds between resident-memory samples.
        public var sampleEvery: Double
        /// Checkpoint cadence of the end-to-end run in seconds (the report shows it).
        public var checkpointEvery: Double
        /// Stream events used for each stage measured alone.
        public var stageEvents: Int
        /// Impressions in the synthetic stream (0 picks duration x 40,000, at least 1,000,000).
        public var streamImpressions: Int
        /// Synthetic stream seed.
        public var seed: UInt64
        /// Most events the producer keeps ahead of training in each partition (0: half of what the
        /// mock broker retains per partition).
        public var lead: Int
        /// Partitions of the events topic on the in-process mock broker.
        public var partitions: Int
        /// Impressions carry their label instead of unlabelled impressions plus click events.
        public var labelledImpressions: Bool
        /// Largest growth in percent of the median resident memory of the last quarter over the
        /// second quarter's that counts as flat once warm.
        public var flatThreshold: Double

        public init(duration: Double, sampleEvery: Double, checkpointEvery: Double, stageEvents: Int, streamImpressions: Int,
                    seed: UInt64, lead: Int, partitions: Int, labelledImpressions: Bool, flatThreshold: Double) {
            self.duration = duration
            self.sampleEvery = sampleEvery
            self.checkpointEvery = checkpointEvery
            self.stageEvents = stageEvents
            self.streamImpressions = streamImpressions
            self.seed = seed
            self.lead = lead
            self.partitions = partitions
            self.labelledImpressions = labelledImpressions
            self.flatThreshold = flatThreshold
        }
    }

    /// Bootstraps the process's logging (to standard error, as `configuration` sets it) and an
    /// in-memory metrics backend, so call it once per process; then measures each stage alone on
    /// the stream's first events and runs the daemon as `hsnn run` builds it (with
    /// `configuration`) against a producer thread for `duration` seconds.
    /// - Parameter kernel: what OpenBLAS kernel selection found at startup (nil when it did not run).
    /// - Throws: ``BenchmarkError`` when the kernel failed its self-check or the model configuration
    ///   or stream cannot be benchmarked; what the daemon or the broker throw.
    public static func run(_ parameters: Parameters, configuration: Configuration, kernel: BLASKernelReport?) async throws -> E2EReport {
        LineLogHandler.bootstrap(configuration, output: LogOutput(fileDescriptor: STDERR_FILENO))
        let metrics = BenchMetrics()
        MetricsSystem.bootstrap(metrics)
        let logger = Logger(label: "hsnn.bench")

        let blas = try BenchBLAS.prepare(configuration, kernel: kernel, logger: logger)
        let settings = DaemonSettings(configuration)
        let modelConfig: ModelConfig
        do { modelConfig = try ModelSettings.modelConfig(from: configuration) } catch { throw BenchmarkError.invalid("\(error)") }

        let p = parameters
        let impressions = p.streamImpressions > 0 ? p.streamImpressions : max(1_000_000, Int(p.duration * 40_000))
        var synth = SynthConfig(seed: p.seed)
        synth.numImpressions = impressions
        synth.emitClickEvents = !p.labelledImpressions
        let machineBefore = MachineLoad.read()

        // 1. Each stage alone, on the stream's first events.
        let stageInput = (synth: synth, events: p.stageEvents, settings: settings, model: modelConfig, partitions: p.partitions)
        let stages = try await onDedicatedThread {
            try StageBenchmarks.run(synth: stageInput.synth, events: stageInput.events, settings: stageInput.settings,
                                    model: stageInput.model, partitions: stageInput.partitions)
        }

        // 2. The whole daemon at full rate.
        let retentionLead = Int(0.5 * Double(EndToEndRun.mockRetentionBytesPerPartition) / max(stages.meanMessageBytes, 1))
        let run = EndToEndRun(
            settings: settings, model: modelConfig, itemTTLMs: configuration.milliseconds("items.ttl_ms"), synth: synth,
            duration: p.duration, sampleEvery: p.sampleEvery, partitions: p.partitions,
            lead: p.lead > 0 ? p.lead : retentionLead, metrics: metrics, logger: logger)
        let endToEnd = try await run.run()
        let machineAfter = MachineLoad.read()

        return E2EReport.make(
            blas: blas, synth: synth, stages: stages, run: endToEnd, settings: settings, partitions: p.partitions,
            checkpointEvery: p.checkpointEvery, flatThreshold: p.flatThreshold, before: machineBefore, after: machineAfter)
    }
}
