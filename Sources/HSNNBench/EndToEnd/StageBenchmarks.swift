import HSNNMath
import HSNNDaemon
import HSNNEvents
import HSNNModel
import HSNNPipeline
import HSNNSynth
import HSNNSupport

/// Decoding, joining and training, each measured alone on the same slice of the synthetic stream.
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
            throw BenchmarkError.invalid("\(failures) synthetic messages failed to decode; the decoder limits (ingest.*) refuse them")
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
        return ((clock.now - start).inSeconds, CPUTime.process() - cpuStart)
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
        let passSeconds = max((clock.now - warm).inSeconds, 1e-6)
        let passes = max(1, Int((minimumRunSeconds / passSeconds).rounded(.up)))
        var wall: [Double] = []
        var cpuRates: [Double] = []
        for _ in 0..<runs {
            let cpuStart = CPUTime.thread()
            let start = clock.now
            var count = 0
            for _ in 0..<passes { count += pass() }
            let elapsed = (clock.now - start).inSeconds
            let cpuElapsed = CPUTime.thread() - cpuStart
            wall.append(Double(count) / elapsed)
            cpuRates.append(Double(count) / max(cpuElapsed, 1e-9))
        }
        return (median(wall, ifEmpty: .nan), median(cpuRates, ifEmpty: .nan))
    }
}
