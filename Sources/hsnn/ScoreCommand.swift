import ArgumentParser
import Foundation
import HSNNEvents
import HSNNModel

/// `hsnn score`: click probability of each impression.
struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Print the click probability of each impression of a JSON-lines file: {\"event_id\":\"e1\",\"p\":0.031}.")

    @Option(help: "Model folder written by hsnn train.") var model: String
    @Option(help: "JSON-lines event file; impressions are scored, other events are skipped.") var input: String

    func run() throws {
        let m = try ModelCLI.loadModel(model)
        var malformed: [String: Int] = [:]
        var pending: [ImpressionEvent] = []
        func flush() {
            for (imp, p) in zip(pending, m.score(pending)) { ModelCLI.emit(["event_id": imp.eventID, "p": Double(p)]) }
            pending.removeAll(keepingCapacity: true)
        }
        try ModelCLI.forEachEvent(in: input, malformed: &malformed) { event in
            if case .impression(let imp) = event {
                pending.append(imp)
                if pending.count == 4096 { flush() }
            }
        }
        flush()
    }
}
