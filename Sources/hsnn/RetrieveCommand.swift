import ArgumentParser
import Foundation
import HSNNEvents
import HSNNModel

/// `hsnn retrieve`: top-K items per user from a trained model.
struct RetrieveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieve",
        abstract: "Retrieve the top-K items for each user of a JSON-lines file.",
        discussion: """
            Input lines: {"user_id":"7","user_features":{...}}. Output lines: \
            {"user_id":"7","items":[{"item_id":"42","score":1.23},...],"items_scored":N} in rank order. \
            The user's cross features come from the model folder. Items the user already engaged             with (impressed or clicked, as recorded in the model's per-user history) are left out             unless --include-seen is given.
            """)

    @Option(help: "Model folder written by hsnn train.") var model: String
    @Option(help: "JSON-lines file of users ('-' for standard input).") var users: String
    @Option(help: "Items per user.") var k = 100
    @Flag(help: "Score every live item instead of beam search down the index.") var exhaustive = false
    @Option(help: "Beam width per index level, comma separated (default: the model's).") var beam: String?
    @Flag(help: "Also return items the user already engaged with (impressed or clicked).") var includeSeen = false

    func run() throws {
        let m = try ModelCLI.loadModel(model)
        var mode = RetrievalMode.beam(widths: nil)
        if exhaustive { mode = .exhaustive } else if let beam {
            let widths = beam.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !widths.isEmpty, widths.allSatisfy({ $0 > 0 }) else { throw ValidationError("--beam expects widths like 16,64") }
            mode = .beam(widths: widths)
        }
        let reader: UserQueryLineReader
        do { reader = try UserQueryLineReader(path: users) } catch { throw ValidationError("\(error)") }
        while let (line, result) = try reader.next() {
            switch result {
            case .success(let query):
                let r = m.retrieve(query, k: k, mode: mode, excludeSeen: !includeSeen)
                ModelCLI.emit(["user_id": query.userID, "items": r.items.map { ["item_id": $0.itemID, "score": Double($0.score)] },
                               "items_scored": r.itemsScored, "nodes_scored": r.nodesScored])
            case .failure(let failure):
                FileHandle.standardError.write(Data("\(users):\(line): skipped: \(failure)\n".utf8))
            }
        }
    }
}
