import ArgumentParser
import Foundation
import HSNNBench
import Logging

/// `hsnn bench ...`: benchmarks that print what they measured on this machine.
///
/// Figures are medians of several runs measured side by side in one process; nothing is
/// compared against stored numbers.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure decoding, training, retrieval, checkpoint publishing and end-to-end throughput on this machine.",
        subcommands: [Decode.self, Publish.self, Sgemm.self, Model.self, Retrieval.self, EndToEnd.self])

    struct Decode: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Event decoding on one thread: hsnn's decoder against Foundation's JSONSerialization and JSONDecoder.")
        @Option(help: "Distinct messages in the working set.") var messages = 20_000
        @Option(help: "Runs per decoder (the median is reported).") var runs = 7
        @Flag(help: "Print one JSON line instead of a table.") var json = false

        func run() {
            let result = DecodeBenchmark.run(.init(messageCount: messages, runs: runs))
            print(json ? result.jsonLine : result.description)
        }
    }

    struct Publish: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Checkpoint publish time against the sequential write speed of the same disk, measured in the same run.")
        @Option(help: "Directory on the disk to measure (a scratch folder is created inside).") var dir = "data/bench-publish"
        @Option(help: "Checkpoint size in MiB.") var mib = 256
        @Option(help: "Runs (the median is reported).") var runs = 5
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            var logger = Logger(label: "hsnn.bench")
            logger.logLevel = .warning
            let directory = URL(fileURLWithPath: dir)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let result = try PublishBenchmark.run(.init(directory: directory, totalBytes: mib << 20, runs: runs), logger: logger)
            print(json ? try result.renderJSON() : result.renderText(), terminator: "")
        }
    }

    struct Sgemm: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "cblas_sgemm GFLOP/s (n x n x n) with the kernel this process runs.")
        @Option(help: "Matrix size.") var n = 1024
        @Option(help: "Runs (the median is reported).") var runs = 5

        func run() {
            print(SgemmBenchmark.run(n: n, runs: runs))
        }
    }
}
