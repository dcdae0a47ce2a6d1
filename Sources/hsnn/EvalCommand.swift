import ArgumentParser
import Foundation
import HSNNEvents
import HSNNModel

/// `hsnn eval`: Recall@K and NE of a trained model on a test stream.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a trained model: Recall@10/50/100, NE, items scored, beam vs exhaustive, popularity.",
        discussion: """
            Protocol: a user's truth = items clicked in TEST that the user had no impression of in TRAIN; \
            items the user saw in TRAIN are removed before cutting at K; NE = mean test log loss / log loss \
            of always predicting the TRAIN click rate. Test catalog events are applied (deletes after \
            ranking); test impressions are never trained on. Prints one JSON object.
            """)

    @Option(help: "Model folder written by hsnn train (on the TRAIN file).") var model: String
    @Option(help: "The training event file.") var train: String
    @Option(help: "The test event file.") var test: String
    @Flag(help: "Also print the recall-versus-items-scored curve over beam widths.") var beamSweep = false
    @Option(help: "Beam widths to sweep for the first index level (comma separated).") var sweepWidths = "1,2,4,8,16,24,32,48,64"
    @Flag(help: "Skip exhaustive retrieval (faster; no beam-vs-exhaustive ratio).") var noExhaustive = false
    @Option(help: "Evaluate at most this many users (the first by id); 0 = all.") var maxUsers = 0
    @Option(help: "Write every ranking (user, beam or exhaustive, ranked items, truth) to this file as JSON lines.")
    var rankings: String?

    func run() throws {
        let m = try ModelCLI.loadModel(model)
        let evaluator = Evaluator()
        var malformed: [String: Int] = [:]
        try ModelCLI.forEachEvent(in: train, malformed: &malformed) { evaluator.observeTrain($0) }
        try ModelCLI.forEachEvent(in: test, malformed: &malformed) { evaluator.observeTest($0) }
        var options = Evaluator.Options()
        options.exhaustive = !noExhaustive
        options.maxUsers = maxUsers
        if beamSweep {
            let base = m.config.beam
            options.beamSweep = sweepWidths.split(separator: ",").compactMap { Int($0) }.map { w in
                [w] + Array(base.dropFirst().prefix(max(m.config.levels - 2, 0)))
            }
        }
        var rankingsFile: FileHandle?
        if let rankings {
            guard FileManager.default.createFile(atPath: rankings, contents: nil) else {
                throw ValidationError("cannot create the rankings file \(rankings); check the folder exists and is writable")
            }
            rankingsFile = FileHandle(forWritingAtPath: rankings)
            let sink = RankingSink(handle: rankingsFile!)
            options.rankingObserver = { sink.write($0) }
        }
        defer { try? rankingsFile?.close() }
        let start = ContinuousClock.now
        let report = evaluator.evaluate(m, options: options)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        var object = (try JSONSerialization.jsonObject(with: encoder.encode(report))) as? [String: Any] ?? [:]
        object["kind"] = m.config.kind.rawValue
        object["model"] = model
        object["seconds"] = ModelCLI.seconds(since: start)
        if !malformed.isEmpty { object["malformed"] = malformed }
        ModelCLI.emit(object)
    }
}

/// Writes ranking records as JSON lines (evaluation runs on one thread).
private final class RankingSink: @unchecked Sendable {
    // @unchecked: called only from the evaluating thread.
    let handle: FileHandle
    let encoder: JSONEncoder

    init(handle: FileHandle) {
        self.handle = handle
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
    }

    func write(_ record: RankingRecord) {
        guard var line = try? encoder.encode(record) else { return }
        line.append(0x0A)
        handle.write(line)
    }
}
