import ArgumentParser
import Foundation
import HSNNCheckpoint
import HSNNDaemon
import HSNNEvents
import HSNNKafka
import HSNNModel
import HSNNOps
import HSNNPipeline
import HSNNSynth
import Logging
import ServiceLifecycle

/// `hsnn demo`: the whole product on one machine.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Embedded Kafka broker + synthetic producer + the training daemon, end to end, then a holdout evaluation.",
        discussion: """
            Starts the daemon exactly as `hsnn run` does with kafka.brokers = "embedded", produces the \
            synthetic stream's first part (--train-share) into the embedded broker, trains until every \
            produced impression is trained (or until interrupted), publishes the final checkpoint, then \
            evaluates it on the held-out rest of the stream (Recall@K, NE). Progress lines show examples/s, \
            lag and the checkpoint version; metrics are on http://http.host:http.port/metrics meanwhile.
            """)

    @OptionGroup var options: ConfigOptions
    @Option(help: "Synthetic stream seed.") var seed: UInt64 = 1
    @Option(help: "Impressions in the synthetic stream (train + holdout).") var events = 300_000
    @Option(help: "Share of the stream (by time) produced to Kafka for training; the rest is the holdout.")
    var trainShare = 0.8
    @Flag(help: "Produce unlabelled impressions plus click events, so the daemon's joiner labels them.")
    var clickEvents = false

    func run() async throws {
        let file = options.config ?? (FileManager.default.fileExists(atPath: "config/dev.toml") ? "config/dev.toml" : nil)
        let configuration = try ConfigOptions.load(file: file, overrides: ["kafka.brokers=embedded"] + options.overrides)
        var synth = SynthConfig(seed: seed)
        synth.numImpressions = events
        synth.emitClickEvents = clickEvents
        let trainImpressions = Int((Double(events) * trainShare).rounded())
        let streamConfig = synth
        let settings = DaemonSettings(configuration)
        let status = DaemonStatusBoard()
        var runtime = DaemonRuntime(configuration: configuration, blasReport: HSNNCommand.blasReport, status: status) { bootstrap in
            let thread = Thread {
                do {
                    _ = try DemoProducer.produce(streamConfig, impressions: trainImpressions, bootstrap: bootstrap,
                                                 settings: settings, status: status)
                } catch {
                    Logger(label: "hsnn.demo").error("demo producer failed", metadata: ["error": "\(error)"])
                }
            }
            thread.start()
        }
        runtime.extraServices = [DemoCompletion(expectedImpressions: Int64(trainImpressions), status: status)]
        try await runtime.runForCommandLine(finalCheckpointStatus: false)

        // Holdout evaluation of the final checkpoint.
        let store = try CheckpointStore(directory: URL(fileURLWithPath: settings.checkpointDirectory), logger: Logger(label: "hsnn.demo"), create: false)
        guard let loaded = try store.loadLatestVerified() else { throw ValidationError("no checkpoint was published") }
        let model = try RetrievalModel.load(from: loaded.folder)
        let evaluator = Evaluator()
        var impressions = 0
        for event in try SyntheticStream(config: synth) {
            if case .impression = event { impressions += 1 }
            if impressions <= trainImpressions { evaluator.observeTrain(event) } else { evaluator.observeTest(event) }
        }
        var evaluation = Evaluator.Options()
        evaluation.maxUsers = 2_000
        let report = evaluator.evaluate(model, options: evaluation)

        // The two-tower baseline: same features and objective, one pass over the same training events.
        var labelled = synth
        labelled.emitClickEvents = false
        var baselineConfig = model.config
        baselineConfig.kind = .twoTower
        let twoTower = try RetrievalModel(config: baselineConfig)
        let baselineEvaluator = Evaluator()
        var batch: [LabeledExample] = []
        impressions = 0
        for event in try SyntheticStream(config: labelled) {
            if case .impression = event { impressions += 1 }
            guard impressions <= trainImpressions else { baselineEvaluator.observeTest(event); continue }
            baselineEvaluator.observeTrain(event)
            switch event {
            case .item(let item): twoTower.apply(item)
            case .impression(let imp):
                batch.append(LabeledExample(impression: imp, clicked: imp.clicked ?? false))
                if batch.count == baselineConfig.batchSize { twoTower.train(batch); batch.removeAll(keepingCapacity: true) }
            case .click: break
            }
        }
        if !batch.isEmpty { twoTower.train(batch) }
        let baseline = baselineEvaluator.evaluate(twoTower, options: evaluation)

        print(DemoTable.render(hsnn: report, twoTower: baseline))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let summary = DemoSummary(checkpoint: loaded.version.folderName, report: report, twoTower: baseline)
        print(String(decoding: try encoder.encode(summary), as: UTF8.self))
    }
}

private struct DemoSummary: Encodable {
    var checkpoint: String
    /// HSNN: beam figures at the top level, exhaustive ones under `exhaustive_recall`.
    var report: EvaluationReport
    var twoTower: EvaluationReport

    enum CodingKeys: String, CodingKey { case checkpoint, report, twoTower = "two_tower" }
}

/// The holdout comparison as a table for people.
enum DemoTable {
    static func render(hsnn: EvaluationReport, twoTower: EvaluationReport) -> String {
        func recall(_ r: [String: Double], _ k: Int) -> String { r["recall@\(k)"].map { String(format: "%.4f", $0) } ?? "-" }
        func row(_ name: String, _ r: [String: Double], ne: String, scored: String) -> String {
            name.padding(toLength: 34, withPad: " ", startingAt: 0)
                + [recall(r, 10), recall(r, 50), recall(r, 100), ne].map { $0.leftPadded(to: 10) }.joined()
                + scored.leftPadded(to: 22)
        }
        func scored(_ perUser: Double, of live: Int) -> String {
            String(format: "%.0f (%.1f%%)", perUser, 100 * perUser / Double(max(live, 1)))
        }
        let live = hsnn.liveItems
        let lines = [
            "Holdout evaluation: \(hsnn.users) users, \(hsnn.testImpressions) test impressions, \(live) live items",
            "model".padding(toLength: 34, withPad: " ", startingAt: 0)
                + ["R@10", "R@50", "R@100", "NE"].map { $0.leftPadded(to: 10) }.joined() + "items scored / user".leftPadded(to: 22),
            row("HSNN, beam search", hsnn.recall, ne: String(format: "%.4f", hsnn.ne), scored: scored(hsnn.itemsScoredPerUser, of: live)),
            row("HSNN, exhaustive", hsnn.exhaustiveRecall, ne: String(format: "%.4f", hsnn.ne),
                scored: scored(hsnn.exhaustiveItemsScoredPerUser, of: live)),
            row("two-tower (same objective)", twoTower.recall, ne: String(format: "%.4f", twoTower.ne),
                scored: scored(twoTower.itemsScoredPerUser, of: twoTower.liveItems)),
            row("popularity (training clicks)", hsnn.popularityRecall, ne: "-", scored: "all"),
        ]
        return lines.joined(separator: "\n")
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? " " + self : String(repeating: " ", count: width - count) + self
    }
}

/// Produces the first `impressions` impressions of a synthetic stream (and the catalog events
/// among them) to the daemon's topics.
///
/// It stays at most ``maxAhead`` impressions ahead of training: the embedded broker keeps
/// only the newest few MiB of each partition, so a producer far ahead would lose events.
enum DemoProducer {
    static let maxAhead: Int64 = 40_000

    /// Impressions the daemon has read so far.
    private static func consumed(_ status: DaemonStatusBoard) -> Int64 { status.current.joiner.impressions }

    static func produce(_ synth: SynthConfig, impressions: Int, bootstrap: String, settings: DaemonSettings,
                        status: DaemonStatusBoard) throws -> Int64 {
        var logger = Logger(label: "hsnn.demo.producer")
        logger.logLevel = .warning
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap, clientID: "hsnn-demo",
                                                      properties: ["linger.ms": "20", "queue.buffering.max.messages": "500000"]),
            logger: logger)
        let encoder = EventEncoder()
        var count = 0
        var impressionCount: Int64 = 0
        var bytes: [UInt8] = []
        for event in try SyntheticStream(config: synth) {
            bytes.removeAll(keepingCapacity: true)
            try encoder.encode(event, into: &bytes)
            switch event {
            case .item(let e):
                try producer.send(topic: settings.itemsTopic, key: Array(e.itemID.utf8), value: bytes)
            case .impression(let e):
                if impressionCount == Int64(impressions) { break }
                while impressionCount - consumed(status) > maxAhead {
                    producer.poll()
                    Thread.sleep(forTimeInterval: 0.05)
                }
                impressionCount += 1
                try producer.send(topic: settings.eventsTopic, key: Array(e.userID.utf8), value: bytes)
            case .click(let e):
                try producer.send(topic: settings.eventsTopic, key: Array(e.userID.utf8), value: bytes)
            }
            if impressionCount == Int64(impressions), case .impression = event { break }
            count += 1
            if count % 20_000 == 0 { producer.poll() }
        }
        try producer.flush(timeout: .seconds(120))
        logger.notice("demo producer finished", metadata: ["demo.impressions": "\(impressionCount)"])
        return impressionCount
    }
}

/// Ends the demo (gracefully, through the service group) once every produced impression is
/// trained or waits in the joiner for its click window.
struct DemoCompletion: Service {
    let expectedImpressions: Int64
    let status: DaemonStatusBoard

    func run() async throws {
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let s = status.current
            if s.pipeline.examplesTrained + s.pipeline.waitingInBatch + Int64(s.joiner.pendingImpressions) >= expectedImpressions { return }
            try? await Task.sleep(for: .milliseconds(500))
        }
    }
}
