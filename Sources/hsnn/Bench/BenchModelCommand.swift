import ArgumentParser
import HSNNMath
import Foundation
import HSNNBench
import HSNNModel

extension BenchCommand {
    /// `hsnn bench model`: training throughput against the machine's sgemm peak, in one run.
    struct Model: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Training examples/s, FLOPs per example and achieved GFLOP/s against a cblas_sgemm peak measured in the same run.")
        @Option(help: "Examples to train (timed).") var examples = 200_000
        @Option(help: "Model kind: hsnn or two_tower.") var kind = "hsnn"
        @Option(help: "OpenBLAS threads (0: one per core).") var threads = 0
        @Option(help: "Matrix size of the sgemm peak measurement.") var peakN = 1024

        func run() throws {
            try BLASThreads.set(threads > 0 ? threads : BLASThreads.processorCount)
            var config = ModelConfig()
            do { try config.set("model.kind", kind) } catch { throw ValidationError("\(error)") }
            print(try ModelBenchmark.trainingAgainstPeak(config: config, examples: examples, peakN: peakN).jsonLine)
        }
    }

    /// `hsnn bench retrieval`: latency per user against corpus size, beam and exhaustive.
    struct Retrieval: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Retrieval latency p50/p99 per user at growing corpus sizes (random weights), beam search and exhaustive scoring.")
        @Option(help: "Corpus sizes, comma separated.") var items = "100000,1000000,10000000"
        @Option(help: "Level-1 beam width.") var beam = 16
        @Option(help: "Users timed per size with beam search.") var beamQueries = 200
        @Option(help: "Users timed per size exhaustively.") var exhaustiveQueries = 5

        func run() throws {
            let sizes = try items.split(separator: ",").map { text -> Int in
                guard let n = Int(text.trimmingCharacters(in: .whitespaces)), n > 0 else { throw ValidationError("--items: bad size '\(text)'") }
                return n
            }
            let results = try ModelBenchmark.retrieval(itemCounts: sizes, beam: beam, beamQueries: beamQueries, exhaustiveQueries: exhaustiveQueries)
            for r in results { print(try r.jsonLine()) }
        }
    }
}
