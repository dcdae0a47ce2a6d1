import ArgumentParser
import Foundation
import HSNNBench

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
            let parameters = EndToEndBenchmark.Parameters(
                duration: duration, sampleEvery: sampleEvery, checkpointEvery: checkpointEvery, stageEvents: stageEvents,
                streamImpressions: streamImpressions, seed: seed, lead: lead, partitions: partitions,
                labelledImpressions: labelledImpressions, flatThreshold: flatThreshold)
            let report: E2EReport
            do {
                report = try await EndToEndBenchmark.run(parameters, configuration: configuration, kernel: HSNNCommand.blasReport)
            } catch BenchmarkError.invalid(let message) {
                throw ValidationError(message)
            } catch BenchmarkError.kernelFailedSelfCheck {
                throw ExitCode(1)
            }
            let jsonText = try report.jsonText()
            if let saveJson { try (jsonText + "\n").write(toFile: saveJson, atomically: true, encoding: .utf8) }
            if json {
                print(jsonText)
            } else {
                print(report.text, terminator: "")
            }
        }
    }
}
