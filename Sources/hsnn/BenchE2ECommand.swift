import ArgumentParser
import BLASRuntime
import CoreMetrics
import Foundation
import HSNNDaemon
import HSNNEvents
import HSNNKafka
import HSNNModel
import HSNNOps
import HSNNPipeline
import HSNNSynth
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

extension BenchCommand {
    /// `hsnn bench e2e`: every stage of the daemon on its own, then the whole daemon at full
    /// rate for a long run, side by side on the same synthetic stream.
    struct EndToEnd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "e2e",
            abstract: "Stage rates (decode, join, train) against the end-to-end rate, the training pause per checkpoint, and resident memory over a long run.",
            discussion: """
                First measures each stage alone on the first --stage-events events of a synthetic stream: \
                decoding on one thread, the impression/click joiner and mini-batching with a learner that does \
                nothing, and model training on the pre-joined batches. Then runs the daemon as `hsnn run` \
                builds it, against librdkafka's mock cluster started in this process (as kafka.brokers = \
                "embedded" does, with --partitions event partitions so that the producer's lead fits the \
                mock's retention of 5 MiB per partition), while a producer thread keeps the same stream \
                --lead events per partition ahead of training, for --duration seconds: it reports the end-to-end rate, \
                the ratio of every stage to it, CPU time per thread, the bottleneck (from the share of time the \
                training thread was busy and the share the poller waited for room in the full ingest queue), each \
                checkpoint's training pause and publish time, backpressure (partition pauses), and resident \
                memory sampled every --sample-every seconds. \
                Configuration keys (--config, HSNN_*, --set) apply to the daemon as with `hsnn run` (a \
                kafka.brokers other than "embedded" benchmarks that broker instead); the bench's own \
                defaults (scratch checkpoint folder, --checkpoint-every cadence, log level warning on \
                stderr) come first and yield to them.
                """)

        @OptionGroup var options: ConfigOptions
        @Option(help: "Length of the end-to-end run in seconds.") var duration: Double = 600
        @Option(help: "Seconds between resident-memory samples.") var sampleEvery: Double = 10
        @Option(help: "Checkpoint cadence of the end-to-end run in seconds.") var checkpointEvery: Double = 5
        @Option(help: "Stream events used for each stage measured alone.") var stageEvents = 200_000
        @Option(help: "Impressions in the synthetic stream (the producer stops early if it runs out; 0 picks duration x 40,000).")
        var streamImpressions = 0
        @Option(help: "Synthetic stream seed.") var seed: UInt64 = 1
        @Option(help: "Most events the producer keeps ahead of training in each partition (0: half of what the mock broker retains per partition).")
        var lead = 0
        @Option(help: "Partitions of the events topic on the in-process mock broker.") var partitions = 16
        @Flag(help: "Produce impressions that carry their label instead of unlabelled impressions plus click events.")
        var labelledImpressions = false
        @Option(help: "Largest growth, in percent, of the median resident memory of the run's last quarter over its second quarter's that counts as flat once warm.")
        var flatThreshold: Double = 10
        @Option(help: "Scratch folder for the run's checkpoints (created, then removed).") var dir = "data/bench-e2e"
        @Flag(help: "Print one JSON object instead of tables.") var json = false
        @Option(help: "Also write the JSON object to this file.") var saveJson: String?

        func validate() throws {
            guard duration >= 5 else { throw ValidationError("--duration must be at least 5 seconds") }
            guard sampleEvery >= 1, sampleEvery <= duration else {
                throw ValidationError("--sample-every must be between 1 second and --duration")
            }
            guard checkpointEvery > 0 else { throw ValidationError("--checkpoint-every must be positive") }
            guard stageEvents >= 10_000 else { throw ValidationError("--stage-events must be at least 10000") }
            guard partitions >= 1 else { throw ValidationError("--partitions must be at least 1") }
            guard streamImpressions >= 0, lead >= 0 else { throw ValidationError("--stream-impressions and --lead cannot be negative") }
        }

        func run() async throws {
            let scratch = URL(fileURLWithPath: dir)
            if FileManager.default.fileExists(atPath: scratch.path) {
                throw ValidationError("\(dir) exists; remove it or pass another --dir (the bench needs an empty checkpoint folder)")
            }
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: scratch) }

            var config = options
            config.overrides.insert(contentsOf: [
                "kafka.group_id=hsnn-bench-e2e",
                "checkpoint.dir=\(scratch.appendingPathComponent("checkpoints").path)",
                "checkpoint.every_seconds=\(Int((checkpointEvery * 1000).rounded()))ms", "checkpoint.every_events=0",
                "log.level=warning",
            ], at: 0)
            let configuration = try config.load()
            LineLogHandler.bootstrap(configuration, output: LogOutput(fileDescriptor: STDERR_FILENO))
            let metrics = BenchMetrics()
            MetricsSystem.bootstrap(metrics)
            let logger = Logger(label: "hsnn.bench")

            let blas = try BenchBLAS.prepare(configuration, logger: logger)
            let settings = DaemonSettings(configuration)
            let modelConfig: ModelConfig
            do { modelConfig = try ModelSettings.modelConfig(from: configuration) } catch { throw ValidationError("\(error)") }

            let impressions = streamImpressions > 0 ? streamImpressions : max(1_000_000, Int(duration * 40_000))
            var synth = SynthConfig(seed: seed)
            synth.numImpressions = impressions
            synth.emitClickEvents = !labelledImpressions
            let machineBefore = MachineLoad.read()

            // 1. Each stage alone, on the stream's first events.
            let stageInput = (synth: synth, events: stageEvents, settings: settings, model: modelConfig, partitions: partitions)
            let stages = try await runOnThread {
                try StageBenchmarks.run(synth: stageInput.synth, events: stageInput.events, settings: stageInput.settings,
                                        model: stageInput.model, partitions: stageInput.partitions)
            }

            // 2. The whole daemon at full rate.
            let retentionLead = Int(0.5 * Double(EndToEndRun.mockRetentionBytesPerPartition) / max(stages.meanMessageBytes, 1))
            let run = EndToEndRun(
                settings: settings, model: modelConfig, itemTTLMs: configuration.milliseconds("items.ttl_ms"), synth: synth,
                duration: duration, sampleEvery: sampleEvery, partitions: partitions,
                lead: lead > 0 ? lead : retentionLead, metrics: metrics, logger: logger)
            let endToEnd = try await run.run()
            let machineAfter = MachineLoad.read()

            let report = E2EReport.make(
                blas: blas, synth: synth, stages: stages, run: endToEnd, settings: settings, partitions: partitions,
                checkpointEvery: checkpointEvery, flatThreshold: flatThreshold, before: machineBefore, after: machineAfter)
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .custom { path in SnakeCaseKey(path.last!.stringValue) }
            encoder.outputFormatting = [.sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            let jsonText = String(decoding: try encoder.encode(report), as: UTF8.self)
            if let saveJson { try (jsonText + "\n").write(toFile: saveJson, atomically: true, encoding: .utf8) }
            if json {
                print(jsonText)
            } else {
                print(report.text, terminator: "")
            }
        }
    }
}

// MARK: - BLAS

/// The kernel this process runs, as the report shows it.
struct BenchBLAS: Codable, Sendable {
    var core: String
    var selection: String
    var threads: Int
    /// `OPENBLAS_CORETYPE` in this process's environment: the user's, or the one kernel selection set
    /// when it re-executed the process (nil when unset).
    var coretypeEnvironment: String?

    /// Checks the kernel, sets the BLAS thread count like `hsnn run`, and describes the result.
    /// - Throws: `ExitCode(1)` when the kernel failed its self-check.
    static func prepare(_ configuration: Configuration, logger: Logger) throws -> BenchBLAS {
        if let report = HSNNCommand.blasReport {
            do { try report.requireVerified() } catch {
                logger.critical("OpenBLAS failed its self-check; refusing to benchmark", metadata: ["error": "\(error)"])
                throw ExitCode(1)
            }
        }
        let threads = configuration.int("training.threads")
        let active = try BLASThreads.set(threads > 0 ? threads : BLASThreads.processorCount)
        let report = HSNNCommand.blasReport
        return BenchBLAS(core: report?.activeCore ?? "unknown", selection: report?.summary ?? "kernel selection did not run",
                         threads: active, coretypeEnvironment: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"])
    }
}

// MARK: - Stages alone

/// One stage's throughput measured alone.
struct StageRate: Codable, Sendable {
    var stage: String
    var what: String
    /// Stream events per second of wall time (median of the runs).
    var eventsPerSecond: Double
    /// Stream events per second of CPU time: the rate of the cores it used, unaffected by other processes.
    var eventsPerCpuSecond: Double
    /// Labelled examples per second, for the stages that train.
    var examplesPerSecond: Double?
    /// Threads doing the work.
    var threads: Int
    var runs: Int
    /// This stage's events/s divided by the end-to-end events/s (filled in at the end).
    var ratioToEndToEnd: Double?
    /// This stage's events/cpu-s divided by the end-to-end events/cpu-s of the whole process.
    var cpuRatioToEndToEnd: Double?
}

/// Every stage measured alone, and what the measured slice of the stream holds.
struct StageResults: Sendable {
    var events: Int
    var examples: Int
    var meanMessageBytes: Double
    var rates: [StageRate]
}

/// What a pipeline run hands its learner, in order: the input of the training stage.
private enum LearnerStep {
    case item(ItemEvent)
    case batch([LabeledExample])
}

/// Records what the pipeline asks of its learner.
private final class RecordingLearner: OnlineLearner {
    var steps: [LearnerStep] = []
    func apply(_ item: ItemEvent) { steps.append(.item(item)) }
    func train(_ batch: [LabeledExample]) { steps.append(.batch(batch)) }
}

/// Counts what the pipeline asks of it and does nothing else.
private final class NoOpLearner: OnlineLearner {
    var items = 0
    var examples = 0
    func apply(_ item: ItemEvent) { items += 1 }
    func train(_ batch: [LabeledExample]) { examples += batch.count }
}

/// The synthetic messages of the measured slice, back to back in one buffer, as the broker holds them.
private struct EncodedMessages {
    var bytes: [UInt8] = []
    var ends: [Int] = []
    /// The partition each message's key hashes to (the catalog topic is partition 0 of its own topic).
    var partitions: [StreamPartition] = []

    var count: Int { ends.count }

    func forEach(_ body: (UnsafeRawBufferPointer) -> Void) {
        bytes.withUnsafeBytes { all in
            var start = 0
            for i in 0..<ends.count {
                body(UnsafeRawBufferPointer(rebasing: all[start..<ends[i]]))
                start = ends[i]
            }
        }
    }
}

enum StageBenchmarks {
    static let minimumRunSeconds = 1.0
    static let runs = 3

    /// Measures decoding, joining and training alone on the first `events` events of `synth`.
    /// - Throws: when the stream or the model configuration is invalid, or a message does not decode.
    static func run(synth: SynthConfig, events: Int, settings: DaemonSettings, model: ModelConfig,
                    partitions: Int) throws -> StageResults {
        let messages = try encode(synth: synth, events: events, settings: settings, partitions: partitions)
        let decoder = EventDecoder(limits: settings.decoderLimits)

        // Decode, one thread.
        var decoded: [Event] = []
        decoded.reserveCapacity(messages.count)
        var failures = 0
        messages.forEach { bytes in
            switch decoder.decodeResult(bytes) {
            case .success(let event): decoded.append(event)
            case .failure: failures += 1
            }
        }
        guard failures == 0 else {
            throw ValidationError("\(failures) synthetic messages failed to decode; the decoder limits (ingest.*) refuse them")
        }
        let decode = measure { () -> Int in
            var checksum: Int64 = 0
            messages.forEach { bytes in
                if case .success(let event) = decoder.decodeResult(bytes) { checksum &+= event.timestampMs }
            }
            if checksum == 42 { print("", terminator: "") }
            return messages.count
        }

        // Joiner + pipeline with a learner that does nothing.
        let recorder = RecordingLearner()
        feed(decoded, partitions: messages.partitions, into: recorder, settings: settings, finish: true)
        let examples = recorder.steps.reduce(0) { if case .batch(let b) = $1 { return $0 + b.count } else { return $0 } }
        let pipeline = measure { () -> Int in
            let learner = NoOpLearner()
            feed(decoded, partitions: messages.partitions, into: learner, settings: settings, finish: false)
            return decoded.count
        }

        // Model training on the pre-joined batches: one run on a fresh model with the configured
        // BLAS threads, and one with a single thread when more are configured.
        let threads = BLASThreads.count
        let (trainSeconds, trainCPU) = try train(recorder.steps, model)
        var single: (seconds: Double, cpu: Double)?
        if threads > 1 {
            _ = try BLASThreads.set(1)
            defer { _ = try? BLASThreads.set(threads) }
            single = try train(recorder.steps, model)
        }

        var rates = [
            StageRate(stage: "decode", what: "EventDecoder over the encoded messages",
                      eventsPerSecond: decode.wall, eventsPerCpuSecond: decode.cpu, threads: 1, runs: runs),
            StageRate(stage: "join", what: "impression/click joiner + mini-batching, no-op learner",
                      eventsPerSecond: pipeline.wall, eventsPerCpuSecond: pipeline.cpu,
                      examplesPerSecond: pipeline.wall * Double(examples) / Double(decoded.count), threads: 1, runs: runs),
            StageRate(stage: "train", what: "RetrievalModel.apply/train on the pre-joined batches",
                      eventsPerSecond: Double(decoded.count) / trainSeconds, eventsPerCpuSecond: Double(decoded.count) / trainCPU,
                      examplesPerSecond: Double(examples) / trainSeconds, threads: threads, runs: 1),
        ]
        if let single {
            rates.append(StageRate(stage: "train-1t", what: "the same with one BLAS thread",
                                   eventsPerSecond: Double(decoded.count) / single.seconds,
                                   eventsPerCpuSecond: Double(decoded.count) / single.cpu,
                                   examplesPerSecond: Double(examples) / single.seconds, threads: 1, runs: 1))
        }
        return StageResults(events: decoded.count, examples: examples,
                            meanMessageBytes: Double(messages.bytes.count) / Double(max(messages.count, 1)), rates: rates)
    }

    /// Replays the recorded steps on a fresh model: wall and process CPU seconds.
    private static func train(_ steps: [LearnerStep], _ config: ModelConfig) throws -> (seconds: Double, cpu: Double) {
        let model = try RetrievalModel(config: config)
        let clock = ContinuousClock()
        let cpuStart = CPUTime.process()
        let start = clock.now
        for step in steps {
            switch step {
            case .item(let item): model.apply(item)
            case .batch(let batch): model.train(batch)
            }
        }
        return (seconds(clock.now - start), CPUTime.process() - cpuStart)
    }

    private static func encode(synth: SynthConfig, events: Int, settings: DaemonSettings,
                               partitions: Int) throws -> EncodedMessages {
        var messages = EncodedMessages()
        let encoder = EventEncoder()
        for event in try SyntheticStream(config: synth).prefix(events) {
            try encoder.encode(event, into: &messages.bytes)
            messages.ends.append(messages.bytes.count)
            switch event {
            case .item: messages.partitions.append(StreamPartition(topic: settings.itemsTopic, partition: 0))
            case .impression(let e): messages.partitions.append(partition(of: e.userID, settings.eventsTopic, partitions))
            case .click(let e): messages.partitions.append(partition(of: e.userID, settings.eventsTopic, partitions))
            }
        }
        return messages
    }

    /// The partition the end-to-end producer sends a key to.
    private static func partition(of key: String, _ topic: String, _ count: Int) -> StreamPartition {
        StreamPartition(topic: topic, partition: keyPartition(of: key, count: count))
    }

    private static func feed(_ events: [Event], partitions: [StreamPartition], into learner: any OnlineLearner,
                             settings: DaemonSettings, finish: Bool) {
        let pipeline = LearnerFeed(learner: learner, joiner: ImpressionClickJoiner(configuration: settings.joiner),
                                        batchSize: settings.batchSize)
        for (offset, event) in events.enumerated() {
            pipeline.process(event, from: partitions[offset], offset: Int64(offset))
        }
        if finish { pipeline.finish() }
    }

    /// Median events per wall second and per CPU second of the calling thread over ``runs`` runs, each
    /// repeating `pass` for at least ``minimumRunSeconds`` (after one untimed pass).
    private static func measure(_ pass: () -> Int) -> (wall: Double, cpu: Double) {
        let clock = ContinuousClock()
        let warm = clock.now
        _ = pass()
        let passSeconds = max(seconds(clock.now - warm), 1e-6)
        let passes = max(1, Int((minimumRunSeconds / passSeconds).rounded(.up)))
        var wall: [Double] = []
        var cpuRates: [Double] = []
        for _ in 0..<runs {
            let cpuStart = CPUTime.thread()
            let start = clock.now
            var count = 0
            for _ in 0..<passes { count += pass() }
            let elapsed = seconds(clock.now - start)
            let cpuElapsed = CPUTime.thread() - cpuStart
            wall.append(Double(count) / elapsed)
            cpuRates.append(Double(count) / max(cpuElapsed, 1e-9))
        }
        return (median(wall), median(cpuRates))
    }
}

// MARK: - End to end

/// What the long run measured.
struct EndToEndResult: Sendable {
    var samples: [MemorySample]
    var measuredSeconds: Double
    var eventsProcessed: Int64
    var examplesTrained: Int64
    var produced: Int64
    var producerExhaustedAt: Double?
    var producerError: String?
    /// Most events the producer kept ahead in one partition.
    var leadLimit: Int
    var partitions: Int
    /// Records polled from Kafka but not yet trained (queue + held by the poller + the chunk in training), at most.
    var maxInProcess: Int64
    var queueCapacity: Int
    var secondsPaused: Double
    /// Time with less than one training chunk polled and not yet trained (sampled every 250 ms).
    var secondsStarved: Double
    var backpressurePauses: Int64
    var maxPartitionLead: Int64
    var maxTotalLead: Int64
    var snapshotPauses: [Double]
    var publishSeconds: [Double]
    var publishFailures: Int64
    var checkpointBytes: Double?
    var finalStatus: DaemonStatusBoard.Status
    /// Records whose offsets the model reflects but that never reached the pipeline (0 unless the mock
    /// broker dropped unread messages).
    var recordsLost: Int64
    var cpuSeconds: Double
    /// Where the CPU time went after warm-up, by thread name.
    var threads: [ThreadShare]
}

/// CPU time of the threads sharing one name over the warm part of the long run.
struct ThreadShare: Codable, Sendable {
    var thread: String
    var cpuSeconds: Double
    /// Share of the process's CPU time over the same window.
    var percentOfProcess: Double
    /// CPU seconds per wall second (1 = one core busy all the time).
    var cores: Double
}

/// One resident-memory sample of the long run.
struct MemorySample: Codable, Sendable {
    var seconds: Double
    var rssMiB: Double
    var eventsProcessed: Int64
    var examplesTrained: Int64
    /// Events per second since the previous sample.
    var eventsPerSecond: Double
    /// Process CPU time over wall time since the previous sample (200% = two cores busy).
    var cpuPercent: Double
    /// Process CPU seconds since the run started.
    var cpuSeconds: Double
    var pausedForBackpressure: Bool
    /// Partition pauses since the start (the trainer took nothing from the full queue for `ingest.pause_after_ms`).
    var backpressurePauses: Int64
    /// Seconds since the start the training thread waited for records.
    var trainerIdleSeconds: Double
    /// Seconds since the start the poller waited for room in the full ingest queue.
    var ingestBlockedSeconds: Double
    var modelVersion: Int64?
}

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
            throw ValidationError("the daemon stopped before the run started; run with --set log.level=info to see why")
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

/// Produces the synthetic stream into the broker on its own thread, each partition at most
/// `lead` events ahead of what the daemon has processed from it.
///
/// The producer picks partitions itself (by the key's hash, as ``keyPartition(of:topic:count:)``) so it
/// knows every partition's end offset; the daemon's status gives the next offset it reflects.
private final class BenchProducer: Sendable {
    let produced = Atomic<Int64>(0)
    /// Largest lead of one partition, and of all partitions together, seen so far.
    let maxPartitionLead = Atomic<Int64>(0)
    let maxTotalLead = Atomic<Int64>(0)
    let exhausted = Atomic<Bool>(false)
    let error = Mutex<String?>(nil)
    private let stopRequested = Atomic<Bool>(false)
    private let finished = DispatchSemaphore(value: 0)

    func start(synth: SynthConfig, bootstrap: String, settings: DaemonSettings, partitions: Int, lead: Int,
               status: DaemonStatusBoard) {
        let thread = Thread { [self] in
            Thread.current.name = "hsnn-bench-prod"
            do {
                try self.produce(synth: synth, bootstrap: bootstrap, settings: settings, partitions: partitions,
                                 lead: Int64(lead), status: status)
            } catch {
                self.error.withLock { $0 = "\(error)" }
            }
            self.finished.signal()
        }
        thread.start()
    }

    /// Asks the thread to stop and waits until its messages are flushed.
    func stop() async {
        stopRequested.store(true, ordering: .relaxed)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread { [finished] in
                finished.wait()
                continuation.resume()
            }
            thread.start()
        }
    }

    private func produce(synth: SynthConfig, bootstrap: String, settings: DaemonSettings, partitions: Int, lead: Int64,
                         status: DaemonStatusBoard) throws {
        var logger = Logger(label: "hsnn.bench.producer")
        logger.logLevel = .warning
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(
                bootstrapServers: bootstrap, clientID: "hsnn-bench",
                properties: ["linger.ms": "5", "queue.buffering.max.messages": "\(max(100_000, 2 * lead * Int64(partitions)))"]),
            logger: logger)
        // Slots 0..<partitions are the events topic's partitions, the last one the catalog's.
        let names = (0..<partitions).map { "\(settings.eventsTopic)/\($0)" } + ["\(settings.itemsTopic)/0"]
        var sent = [Int64](repeating: 0, count: partitions + 1)
        var done = [Int64](repeating: 0, count: partitions + 1)
        func refresh() {
            let offsets = status.current.offsets
            var total: Int64 = 0
            var largest: Int64 = 0
            for slot in names.indices {
                done[slot] = offsets[names[slot]] ?? 0
                total += sent[slot] - done[slot]
                largest = max(largest, sent[slot] - done[slot])
            }
            maxTotalLead.store(max(maxTotalLead.load(ordering: .relaxed), total), ordering: .relaxed)
            maxPartitionLead.store(max(maxPartitionLead.load(ordering: .relaxed), largest), ordering: .relaxed)
        }

        let encoder = EventEncoder()
        var bytes: [UInt8] = []
        var count: Int64 = 0
        var iterator = try SyntheticStream(config: synth).makeIterator()
        produce: while !stopRequested.load(ordering: .relaxed) {
            guard let event = iterator.next() else {
                exhausted.store(true, ordering: .relaxed)
                break produce
            }
            let topic: String
            let key: String
            let slot: Int
            switch event {
            case .item(let e): (topic, key, slot) = (settings.itemsTopic, e.itemID, partitions)
            case .impression(let e): (topic, key, slot) = (settings.eventsTopic, e.userID, Int(keyPartition(of: e.userID, count: partitions)))
            case .click(let e): (topic, key, slot) = (settings.eventsTopic, e.userID, Int(keyPartition(of: e.userID, count: partitions)))
            }
            if count % 512 == 0 { refresh() }
            while sent[slot] - done[slot] >= lead {
                if stopRequested.load(ordering: .relaxed) { break produce }
                producer.poll(timeout: .milliseconds(5))
                refresh()
            }
            bytes.removeAll(keepingCapacity: true)
            try encoder.encode(event, into: &bytes)
            try producer.send(topic: topic, key: Array(key.utf8), value: bytes, partition: slot == partitions ? 0 : Int32(slot))
            sent[slot] += 1
            count += 1
            produced.store(count, ordering: .relaxed)
        }
        try producer.flush(timeout: .seconds(60))
    }
}

/// The partition a key goes to (FNV-1a of its UTF-8 bytes), as a keyed producer spreads users.
func keyPartition(of key: String, count: Int) -> Int32 {
    var hash: UInt32 = 2_166_136_261
    for byte in key.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
    return Int32(hash % UInt32(count))
}

/// Starts the producer once the broker runs, samples the daemon every second for the run's
/// duration, then returns (which shuts the daemon down gracefully).
private final class EndToEndDriver: Service, Sendable {
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
        func elapsed() -> Double { seconds(clock.now - start) }

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

// MARK: - Metrics captured in memory

/// A swift-metrics backend that keeps what the bench reads back: counter totals, the last
/// value of gauges, and every timer value with the instant it was recorded.
final class BenchMetrics: MetricsFactory, Sendable {
    private struct State {
        var counters: [String: Int64] = [:]
        var gauges: [String: Double] = [:]
        var timers: [String: [(at: ContinuousClock.Instant, seconds: Double)]] = [:]
    }

    private let state = Mutex(State())
    /// Timer values kept per label; later ones are dropped.
    private static let timerLimit = 100_000

    /// Total of every counter called `label`, whatever its dimensions.
    func counter(_ label: String) -> Int64 { state.withLock { $0.counters[label] ?? 0 } }

    /// Last value recorded by a gauge or recorder called `label`.
    func gauge(_ label: String) -> Double? { state.withLock { $0.gauges[label] } }

    /// Every value (seconds) of timer `label` recorded before `cutoff`.
    func timerValues(_ label: String, before cutoff: ContinuousClock.Instant) -> [Double] {
        state.withLock { ($0.timers[label] ?? []).filter { $0.at < cutoff }.map(\.seconds) }
    }

    fileprivate func add(_ label: String, _ amount: Int64) { state.withLock { $0.counters[label, default: 0] += amount } }
    fileprivate func reset(_ label: String) { state.withLock { $0.counters[label] = 0 } }
    fileprivate func set(_ label: String, _ value: Double) { state.withLock { $0.gauges[label] = value } }
    fileprivate func time(_ label: String, _ nanoseconds: Int64) {
        let now = ContinuousClock.now
        state.withLock {
            if ($0.timers[label]?.count ?? 0) < Self.timerLimit {
                $0.timers[label, default: []].append((now, Double(nanoseconds) * 1e-9))
            }
        }
    }

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler { Handler(label, self) }
    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler { Handler(label, self) }
    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler { Handler(label, self) }
    func destroyCounter(_ handler: any CounterHandler) {}
    func destroyRecorder(_ handler: any RecorderHandler) {}
    func destroyTimer(_ handler: any TimerHandler) {}

    private final class Handler: CounterHandler, RecorderHandler, TimerHandler, Sendable {
        let label: String
        let metrics: BenchMetrics
        init(_ label: String, _ metrics: BenchMetrics) {
            self.label = label
            self.metrics = metrics
        }

        func increment(by amount: Int64) { metrics.add(label, amount) }
        func reset() { metrics.reset(label) }
        func record(_ value: Int64) { metrics.set(label, Double(value)) }
        func record(_ value: Double) { metrics.set(label, value) }
        func recordNanoseconds(_ duration: Int64) { metrics.time(label, duration) }
    }
}

// MARK: - Report

struct E2EReport: Codable {
    struct Machine: Codable {
        var processors: Int
        var loadAverageBefore: [Double]
        var loadAverageAfter: [Double]
    }

    struct Stream: Codable {
        var seed: UInt64
        var clickEvents: Bool
        var impressions: Int
        var users: Int
        var items: Int
        var stageEvents: Int
        var stageExamples: Int
        var meanMessageBytes: Double
        /// Where the end-to-end run's events went.
        var broker: String
    }

    struct EndToEnd: Codable {
        var seconds: Double
        /// Events per second from the end of the first quarter (warm) to the end.
        var eventsPerSecond: Double
        /// Events per CPU-second of the whole process (every thread: broker, producer, poller, trainer,
        /// publisher) over the same window.
        var eventsPerCpuSecond: Double
        var examplesPerSecond: Double
        /// Over the whole run, warm-up included.
        var eventsPerSecondOverall: Double
        var eventsProcessed: Int64
        var examplesTrained: Int64
        var eventsProduced: Int64
        var producerExhaustedAtSeconds: Double?
        var producerError: String?
        var recordsLost: Int64
        /// Process CPU time over wall time (200% = two cores).
        var cpuPercent: Double
        /// The stage that limits the end-to-end rate, named from the shares measured after warm-up
        /// (``Backpressure/trainerBusyShare``, ``Backpressure/pollerBlockedShare``), with the figures.
        var bottleneck: String
        /// The slowest stage measured alone (per CPU-second), for comparison.
        var slowestStageAlone: String
        /// CPU time by thread name after warm-up (threads that exited are missing).
        var threads: [ThreadShare]
        var finalLoss: Double?
        var liveItems: Double?
    }

    struct Checkpoints: Codable {
        var cadenceSeconds: Double
        var published: Int
        var failed: Int64
        var bytes: Double?
        var pauseMedianMs: Double?
        var pauseMaxMs: Double?
        var pausesMs: [Double]
        /// Median pause of the first and of the last quarter of the publishes (the joiner state it copies grows).
        var pauseFirstQuarterMedianMs: Double?
        var pauseLastQuarterMedianMs: Double?
        var publishMedianSeconds: Double?
        var publishMaxSeconds: Double?
    }

    struct Backpressure: Codable {
        /// Most events the producer keeps ahead of the daemon in one partition, and the largest leads seen.
        var producerLeadLimitPerPartition: Int
        var producerMaxPartitionLead: Int64
        var producerMaxTotalLead: Int64
        var queueCapacity: Int
        /// Records polled but not yet trained (queue + poller hold + chunk in training), at most.
        var maxPolledNotTrained: Int64
        /// Partition pauses over the whole run: each one means the trainer took nothing from the full
        /// queue for `ingest.pause_after_ms`.
        var pauses: Int64
        var pauseAfterMs: Int64
        var secondsPaused: Double
        var shareOfTimePaused: Double
        /// After warm-up: share of the time the training thread was busy (not waiting for records).
        var trainerBusyShare: Double
        /// After warm-up: share of the time the poller waited for room in the full ingest queue.
        var pollerBlockedShare: Double
        /// Share of the run with less than one training chunk (512 records) polled and not yet trained
        /// (sampled every 250 ms): the trainer (nearly) ran out of input then.
        var shareOfTimeTrainerStarved: Double
        /// Consumer lag from librdkafka's statistics at the end, summed over partitions: measured
        /// against the offsets committed after the last checkpoint, so it includes what was trained since.
        var kafkaLagAtEnd: Int64
    }

    struct Memory: Codable {
        var sampleEverySeconds: Double
        var samples: [MemorySample]
        var warmAtSeconds: Double
        var rssWarmMiB: Double
        var rssEndMiB: Double
        var rssMaxMiB: Double
        /// From the sample at the end of the first quarter to the last sample.
        var growthAfterWarmPercent: Double
        /// Least-squares slope of RSS over the samples after warm-up.
        var slopeAfterWarmMiBPerMinute: Double
        /// Least-squares slope of RSS over the second half of the run.
        var slopeSecondHalfMiBPerMinute: Double
        /// Medians of the samples in the second and in the last quarter of the run: a checkpoint
        /// snapshot in flight adds its size for a moment, medians do not see those peaks.
        var secondQuarterMedianMiB: Double
        var lastQuarterMedianMiB: Double
        var medianGrowthPercent: Double
        var flatThresholdPercent: Double
        /// `medianGrowthPercent` below `flatThresholdPercent`.
        var flatOnceWarm: Bool
        var joinerPendingImpressions: Int
        var eventIdsRemembered: Int64
        var dedupeCapacity: Int
    }

    var benchmark = "e2e"
    var date: String
    var machine: Machine
    var blas: BenchBLAS
    var stream: Stream
    var stages: [StageRate]
    var endToEnd: EndToEnd
    var checkpoints: Checkpoints
    var backpressure: Backpressure
    var memory: Memory

    static func make(blas: BenchBLAS, synth: SynthConfig, stages: StageResults, run: EndToEndResult, settings: DaemonSettings,
                     partitions: Int,
                     checkpointEvery: Double, flatThreshold: Double, before: [Double], after: [Double]) -> E2EReport {
        let samples = run.samples
        let warmIndex = samples.firstIndex { $0.seconds >= run.measuredSeconds / 4 } ?? 0
        let warm = samples.isEmpty ? nil : samples[warmIndex]
        let end = samples.last
        let steadySeconds = (end?.seconds ?? 0) - (warm?.seconds ?? 0)
        let steadyEvents = steadySeconds > 0 ? Double((end?.eventsProcessed ?? 0) - (warm?.eventsProcessed ?? 0)) / steadySeconds
            : Double(run.eventsProcessed) / max(run.measuredSeconds, 1e-9)
        let steadyExamples = steadySeconds > 0 ? Double((end?.examplesTrained ?? 0) - (warm?.examplesTrained ?? 0)) / steadySeconds
            : Double(run.examplesTrained) / max(run.measuredSeconds, 1e-9)

        let steadyCPU = (end?.cpuSeconds ?? 0) - (warm?.cpuSeconds ?? 0)
        let steadyPerCPU = steadySeconds > 0 && steadyCPU > 0
            ? Double((end?.eventsProcessed ?? 0) - (warm?.eventsProcessed ?? 0)) / steadyCPU
            : Double(run.eventsProcessed) / max(run.cpuSeconds, 1e-9)

        var rates = stages.rates
        for i in rates.indices {
            rates[i].ratioToEndToEnd = steadyEvents > 0 ? rates[i].eventsPerSecond / steadyEvents : nil
            rates[i].cpuRatioToEndToEnd = steadyPerCPU > 0 ? rates[i].eventsPerCpuSecond / steadyPerCPU : nil
        }
        let slowest = rates.min { $0.eventsPerCpuSecond < $1.eventsPerCpuSecond }
        let slowestAlone = slowest.map { stage in
            "\(stage.stage) (\(f(stage.eventsPerCpuSecond, 0)) events/cpu-s, \(f(stage.eventsPerSecond, 0)) events/s); "
                + "end to end reaches \(f(100 * steadyPerCPU / stage.eventsPerCpuSecond, 0))% of its per-CPU rate and "
                + "\(f(100 * steadyEvents / stage.eventsPerSecond, 0))% of its wall rate"
        } ?? "unknown"
        // Who waited for whom after warm-up decides the bottleneck: a training thread that is
        // busy all the time limits the rate; one that waits for records while the poller does
        // not wait for room is starved by ingest.
        let window = max(steadySeconds, 1e-9)
        let trainerBusy = steadySeconds > 0
            ? max(0, 1 - ((end?.trainerIdleSeconds ?? 0) - (warm?.trainerIdleSeconds ?? 0)) / window) : .nan
        let pollerBlocked = steadySeconds > 0
            ? ((end?.ingestBlockedSeconds ?? 0) - (warm?.ingestBlockedSeconds ?? 0)) / window : .nan
        let bottleneck = Self.bottleneck(
            trainerBusy: trainerBusy, pollerBlocked: pollerBlocked,
            trainerCores: run.threads.first { $0.thread == "hsnn-trainer" }?.cores,
            pollerCores: run.threads.first { $0.thread == "hsnn-poller" }?.cores)

        let warmSamples = Array(samples[warmIndex...])
        let growth = warm.flatMap { w in end.map { 100 * ($0.rssMiB - w.rssMiB) / w.rssMiB } } ?? .nan
        let total = run.measuredSeconds
        let secondQuarter = samples.filter { $0.seconds > total / 4 && $0.seconds <= total / 2 }.map(\.rssMiB)
        let lastQuarter = samples.filter { $0.seconds > 3 * total / 4 }.map(\.rssMiB)
        let q2 = secondQuarter.isEmpty ? (warm?.rssMiB ?? .nan) : median(secondQuarter)
        let q4 = lastQuarter.isEmpty ? (end?.rssMiB ?? .nan) : median(lastQuarter)
        let medianGrowth = 100 * (q4 - q2) / q2
        let s = run.finalStatus
        let pauses = run.snapshotPauses.map { $0 * 1000 }
        let lagAtEnd = s.lag.values.reduce(0, +)
        return E2EReport(
            date: ISO8601DateFormatter().string(from: Date()),
            machine: Machine(processors: ProcessInfo.processInfo.activeProcessorCount, loadAverageBefore: before, loadAverageAfter: after),
            blas: blas,
            stream: Stream(seed: synth.seed, clickEvents: synth.emitClickEvents, impressions: synth.numImpressions,
                           users: synth.numUsers, items: synth.numItems, stageEvents: stages.events,
                           stageExamples: stages.examples, meanMessageBytes: stages.meanMessageBytes,
                           broker: settings.usesEmbeddedBroker
                               ? "in-process librdkafka mock cluster, \(partitions) event partitions + 1 catalog partition"
                               : settings.brokers),
            stages: rates,
            endToEnd: EndToEnd(
                seconds: run.measuredSeconds, eventsPerSecond: steadyEvents, eventsPerCpuSecond: steadyPerCPU, examplesPerSecond: steadyExamples,
                eventsPerSecondOverall: Double(run.eventsProcessed) / max(run.measuredSeconds, 1e-9),
                eventsProcessed: run.eventsProcessed, examplesTrained: run.examplesTrained, eventsProduced: run.produced,
                producerExhaustedAtSeconds: run.producerExhaustedAt, producerError: run.producerError,
                recordsLost: run.recordsLost, cpuPercent: 100 * run.cpuSeconds / max(run.measuredSeconds, 1e-9),
                bottleneck: bottleneck, slowestStageAlone: slowestAlone, threads: run.threads, finalLoss: s.learner["loss"], liveItems: s.learner["live_items"]),
            checkpoints: Checkpoints(
                cadenceSeconds: checkpointEvery, published: run.publishSeconds.count, failed: run.publishFailures,
                bytes: run.checkpointBytes, pauseMedianMs: pauses.isEmpty ? nil : median(pauses), pauseMaxMs: pauses.max(),
                pausesMs: pauses,
                pauseFirstQuarterMedianMs: pauses.count >= 4 ? median(Array(pauses.prefix(pauses.count / 4))) : nil,
                pauseLastQuarterMedianMs: pauses.count >= 4 ? median(Array(pauses.suffix(pauses.count / 4))) : nil,
                publishMedianSeconds: run.publishSeconds.isEmpty ? nil : median(run.publishSeconds),
                publishMaxSeconds: run.publishSeconds.max()),
            backpressure: Backpressure(
                producerLeadLimitPerPartition: run.leadLimit, producerMaxPartitionLead: run.maxPartitionLead,
                producerMaxTotalLead: run.maxTotalLead, queueCapacity: run.queueCapacity,
                maxPolledNotTrained: run.maxInProcess, pauses: run.backpressurePauses,
                pauseAfterMs: settings.pauseAfter.components.seconds * 1000
                    + settings.pauseAfter.components.attoseconds / 1_000_000_000_000_000,
                secondsPaused: run.secondsPaused,
                shareOfTimePaused: run.secondsPaused / max(run.measuredSeconds, 1e-9),
                trainerBusyShare: trainerBusy, pollerBlockedShare: pollerBlocked,
                shareOfTimeTrainerStarved: run.secondsStarved / max(run.measuredSeconds, 1e-9), kafkaLagAtEnd: lagAtEnd),
            memory: Memory(
                sampleEverySeconds: samples.count > 1 ? samples[1].seconds - samples[0].seconds : run.measuredSeconds,
                samples: samples, warmAtSeconds: warm?.seconds ?? 0, rssWarmMiB: warm?.rssMiB ?? .nan,
                rssEndMiB: end?.rssMiB ?? .nan, rssMaxMiB: samples.map(\.rssMiB).max() ?? .nan,
                growthAfterWarmPercent: growth,
                slopeAfterWarmMiBPerMinute: 60 * slope(warmSamples.map { ($0.seconds, $0.rssMiB) }),
                slopeSecondHalfMiBPerMinute: 60 * slope(samples.filter { $0.seconds > total / 2 }.map { ($0.seconds, $0.rssMiB) }),
                secondQuarterMedianMiB: q2, lastQuarterMedianMiB: q4, medianGrowthPercent: medianGrowth,
                flatThresholdPercent: flatThreshold, flatOnceWarm: medianGrowth.isFinite && medianGrowth < flatThreshold,
                joinerPendingImpressions: s.joiner.pendingImpressions,
                eventIdsRemembered: min(Int64(settings.joiner.dedupeCapacity), s.joiner.impressions + s.joiner.clicks),
                dedupeCapacity: settings.joiner.dedupeCapacity))
    }

    /// Names the stage that limits the end-to-end rate from the shares measured after warm-up.
    ///
    /// - A training thread busy (not waiting for records) at least 90% of the time limits the rate:
    ///   `train`, however fast training runs alone (on a shared machine it also waits for a core).
    /// - A training thread that waits for records while the poller seldom waits for room (at most
    ///   10% of the time) is starved by `ingest` (broker fetch, poll, decode).
    /// - Both waiting is the `hand-off` between them (pauses and refetches, wake-ups).
    static func bottleneck(trainerBusy: Double, pollerBlocked: Double, trainerCores: Double?, pollerCores: Double?) -> String {
        guard trainerBusy.isFinite, pollerBlocked.isFinite else { return "unknown (the run was too short to measure after warm-up)" }
        let busy = "the training thread was busy \(f(100 * trainerBusy, 0))% of the time"
            + (trainerCores.map { " (\(f($0, 2)) cores of CPU)" } ?? "")
        let blocked = "the poller waited for room in the full ingest queue \(f(100 * pollerBlocked, 0))%"
            + (pollerCores.map { " (poll + decode used \(f($0, 2)) cores)" } ?? "")
        if trainerBusy >= 0.9 { return "train: \(busy); \(blocked)" }
        if pollerBlocked <= 0.1 {
            return "ingest (broker fetch, poll, decode): \(busy), it waited for records the rest; \(blocked)"
        }
        return "hand-off between poller and trainer: \(busy), it waited for records the rest, while \(blocked)"
    }

    /// Tables for people.
    var text: String {
        var out = "hsnn bench e2e  \(date)\n"
        out += "machine: \(machine.processors) cores, load average \(list(machine.loadAverageBefore)) before, \(list(machine.loadAverageAfter)) after\n"
        out += "BLAS: \(blas.core), \(blas.threads) threads (OPENBLAS_CORETYPE=\(blas.coretypeEnvironment ?? "unset")): \(blas.selection)\n"
        out += "stream: seed \(stream.seed), \(stream.clickEvents ? "unlabelled impressions + click events" : "labelled impressions"), "
            + "\(stream.users) users, \(stream.items) items, \(stream.impressions) impressions; "
            + "stages measured on the first \(stream.stageEvents) events (\(stream.stageExamples) examples), "
            + "\(f(stream.meanMessageBytes, 0)) B per message\n"
        out += "broker: \(stream.broker)\n\n"

        out += "stage rates (stream events per second of wall time and of CPU time; ratio = stage alone / end to end)\n"
        out += "  " + pad("stage", 8) + lpad("events/s", 11) + lpad("ratio", 9) + lpad("events/cpu-s", 14) + lpad("ratio", 9)
            + lpad("examples/s", 12) + lpad("threads", 9) + "  what\n"
        for r in stages {
            out += "  " + pad(r.stage, 8) + lpad(f(r.eventsPerSecond, 0), 11) + lpad(r.ratioToEndToEnd.map { f($0, 2) + "x" } ?? "-", 9)
                + lpad(f(r.eventsPerCpuSecond, 0), 14) + lpad(r.cpuRatioToEndToEnd.map { f($0, 2) + "x" } ?? "-", 9)
                + lpad(r.examplesPerSecond.map { f($0, 0) } ?? "-", 12) + lpad("\(r.threads)", 9) + "  \(r.what)\n"
        }
        let e = endToEnd
        out += "  " + pad("e2e", 8) + lpad(f(e.eventsPerSecond, 0), 11) + lpad("1.00x", 9) + lpad(f(e.eventsPerCpuSecond, 0), 14)
            + lpad("1.00x", 9) + lpad(f(e.examplesPerSecond, 0), 12) + lpad("all", 9)
            + "  mock broker -> poll -> decode -> join -> train (after the first quarter; CPU of the whole process)\n"
        out += "  bottleneck: \(e.bottleneck)\n"
        out += "  slowest stage alone: \(e.slowestStageAlone)\n\n"

        out += "end to end: \(f(e.seconds, 0)) s, \(e.eventsProcessed) events processed (\(f(e.eventsPerSecondOverall, 0))/s overall), "
            + "\(e.examplesTrained) examples trained, \(e.eventsProduced) produced, CPU \(f(e.cpuPercent, 0))%, "
            + "records lost \(e.recordsLost)"
            + (e.finalLoss.map { ", loss \(f($0, 4))" } ?? "") + (e.liveItems.map { ", live items \(Int($0))" } ?? "") + "\n"
        out += "  CPU by thread after warm-up (cores = CPU seconds per second):"
        for t in e.threads { out += " \(t.thread) \(f(t.cores, 2)) (\(f(t.percentOfProcess, 0))%);" }
        out += "\n"
        if let t = e.producerExhaustedAtSeconds {
            out += "  WARNING: the stream ran out after \(f(t, 0)) s; the rest of the run had no producer (raise --stream-impressions)\n"
        }
        if let error = e.producerError { out += "  WARNING: producer failed: \(error)\n" }
        if e.recordsLost > 0 {
            out += "  WARNING: \(e.recordsLost) records were dropped by the broker before the daemon read them (lower --lead)\n"
        }

        let c = checkpoints
        out += "checkpoints (every \(f(c.cadenceSeconds, 1)) s): \(c.published) published, \(c.failed) failed"
            + (c.bytes.map { ", \(f($0 / 1_048_576, 1)) MiB each" } ?? "") + "\n"
        out += "  training pause per publish: median \(c.pauseMedianMs.map { f($0, 1) } ?? "-") ms, max \(c.pauseMaxMs.map { f($0, 1) } ?? "-") ms"
            + (c.pauseFirstQuarterMedianMs.map { first in
                "; median of the first quarter of publishes \(f(first, 1)) ms, of the last \(f(c.pauseLastQuarterMedianMs ?? .nan, 1)) ms"
            } ?? "") + "\n"
        out += "  publish time: median \(c.publishMedianSeconds.map { f($0, 2) } ?? "-") s, max \(c.publishMaxSeconds.map { f($0, 2) } ?? "-") s\n"

        let b = backpressure
        out += "backpressure: producer kept <= \(b.producerLeadLimitPerPartition) events ahead per partition "
            + "(max \(b.producerMaxPartitionLead) in one, \(b.producerMaxTotalLead) in all); "
            + "polled but not trained <= \(b.maxPolledNotTrained) (queue capacity \(b.queueCapacity)); "
            + "\(b.pauses) partition pauses (trainer took nothing for \(b.pauseAfterMs) ms), paused \(f(100 * b.shareOfTimePaused, 0))% of the time; "
            + "after warm-up the trainer was busy \(f(100 * b.trainerBusyShare, 1))% and the poller waited on a full queue \(f(100 * b.pollerBlockedShare, 1))% of the time; "
            + "less than one chunk polled and not trained \(f(100 * b.shareOfTimeTrainerStarved, 1))% of the time; "
            + "lag behind the last committed checkpoint at the end \(b.kafkaLagAtEnd)\n\n"

        let m = memory
        out += "resident memory (VmRSS), every \(f(m.sampleEverySeconds, 0)) s\n"
        out += "  " + lpad("t (s)", 7) + lpad("RSS MiB", 10) + lpad("events", 12) + lpad("events/s", 10) + lpad("CPU %", 7)
            + lpad("busy %", 8) + lpad("blocked %", 11) + lpad("pauses", 8) + lpad("paused", 8) + lpad("ckpt", 6) + "\n"
        var previous: MemorySample?
        for s in m.samples {
            let interval = max(s.seconds - (previous?.seconds ?? 0), 1e-9)
            let busy = 100 * (1 - (s.trainerIdleSeconds - (previous?.trainerIdleSeconds ?? 0)) / interval)
            let blocked = 100 * (s.ingestBlockedSeconds - (previous?.ingestBlockedSeconds ?? 0)) / interval
            out += "  " + lpad(f(s.seconds, 0), 7) + lpad(f(s.rssMiB, 1), 10) + lpad("\(s.eventsProcessed)", 12)
                + lpad(f(s.eventsPerSecond, 0), 10) + lpad(f(s.cpuPercent, 0), 7) + lpad(f(max(busy, 0), 0), 8)
                + lpad(f(blocked, 0), 11) + lpad("\(s.backpressurePauses)", 8) + lpad(s.pausedForBackpressure ? "yes" : "no", 8)
                + lpad(s.modelVersion.map(String.init) ?? "-", 6) + "\n"
            previous = s
        }
        out += "  (busy %: training thread not waiting for records; blocked %: poller waiting for room in the full queue; "
            + "pauses: partition pauses so far)\n"
        out += "  warm at \(f(m.warmAtSeconds, 0)) s: \(f(m.rssWarmMiB, 1)) MiB; end \(f(m.rssEndMiB, 1)) MiB (\(sign(m.growthAfterWarmPercent))%); "
            + "max \(f(m.rssMaxMiB, 1)) MiB; slope after warm \(f(m.slopeAfterWarmMiBPerMinute, 2)) MiB/min, "
            + "over the second half \(f(m.slopeSecondHalfMiBPerMinute, 2)) MiB/min\n"
        out += "  median of the second quarter \(f(m.secondQuarterMedianMiB, 1)) MiB, of the last quarter \(f(m.lastQuarterMedianMiB, 1)) MiB "
            + "(\(sign(m.medianGrowthPercent))%)\n"
        out += "  flat once warm (median growth < \(f(m.flatThresholdPercent, 0))%): \(m.flatOnceWarm ? "yes" : "no"); "
            + "joiner holds \(m.joinerPendingImpressions) pending impressions and \(m.eventIdsRemembered) of at most \(m.dedupeCapacity) event ids\n"
        return out
    }
}

// MARK: - Helpers

/// CPU time consumed so far.
enum CPUTime {
    /// By the calling thread.
    static func thread() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) * 1e-9
    }

    /// By every thread of the process (user + system).
    static func process() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
    }
}

/// CPU seconds of the process's live threads, summed by thread name (`/proc/self/task/*/comm`).
///
/// Threads keep the name of the thread that created them unless they set their own: OpenBLAS's
/// workers start from the main thread and carry the executable's name, shown as "main + BLAS workers".
enum ThreadCPU {
    static func byName() -> [String: Double] {
        let main = (try? String(contentsOfFile: "/proc/self/comm", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        guard ticks > 0, let tasks = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return [:] }
        var totals: [String: Double] = [:]
        for task in tasks {
            guard let comm = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8),
                  let stat = try? String(contentsOfFile: "/proc/self/task/\(task)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // Fields after the parenthesised name start at field 3; utime and stime are fields 14 and 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { continue }
            var name = comm.trimmingCharacters(in: .whitespacesAndNewlines)
            if name == main { name = "main + BLAS workers" }
            totals[name, default: 0] += (user + system) / ticks
        }
        return totals
    }
}

enum ProcessMemory {
    /// `VmRSS` of `/proc/self/status` in MiB (NaN where procfs is unavailable).
    static func residentMiB() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else { return .nan }
        return kib / 1024
    }
}

enum MachineLoad {
    /// The 1, 5 and 15 minute load averages.
    static func read() -> [Double] {
        var loads = [Double](repeating: 0, count: 3)
        let n = getloadavg(&loads, 3)
        return n == 3 ? loads.map { ($0 * 100).rounded() / 100 } : []
    }
}

/// Runs blocking work on a new thread (8 MiB stack, as the daemon's threads), off the Swift cooperative pool.
private func runOnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// JSON keys in snake case, with `MiB` as one word (`rssEndMiB` -> `rss_end_mib`).
private struct SnakeCaseKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }

    init(_ camelCase: String) {
        var out = ""
        for character in camelCase.replacingOccurrences(of: "MiB", with: "Mib") {
            if character.isUppercase {
                out += "_" + character.lowercased()
            } else {
                out.append(character)
            }
        }
        stringValue = out
    }

    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

private func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

private func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// Least-squares slope of y over x (NaN with fewer than two points).
private func slope(_ points: [(Double, Double)]) -> Double {
    guard points.count >= 2 else { return .nan }
    let n = Double(points.count)
    let mx = points.map(\.0).reduce(0, +) / n
    let my = points.map(\.1).reduce(0, +) / n
    let sxx = points.reduce(0) { $0 + ($1.0 - mx) * ($1.0 - mx) }
    let sxy = points.reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }
    return sxx > 0 ? sxy / sxx : .nan
}

private func f(_ value: Double, _ decimals: Int) -> String { String(format: "%.\(decimals)f", value) }
private func sign(_ value: Double) -> String { (value >= 0 ? "+" : "") + f(value, 1) }
private func list(_ values: [Double]) -> String { values.map { f($0, 2) }.joined(separator: " ") }
private func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count) }
private func lpad(_ s: String, _ width: Int) -> String { s.count >= width ? " " + s : String(repeating: " ", count: width - s.count) + s }
