import Foundation
import HSNNPipeline

/// `pipeline.json`, the file beside the learner's in each checkpoint version that holds the
/// pipeline state (joiner, partial batch, counters, offsets): the one place that writes and
/// reads its format.
package enum PipelineStateFile {
    /// The file's name inside a version's folder.
    package static let name = "pipeline.json"

    /// Writes `state` into the version folder `folder` (JSON with sorted keys).
    package static func write(_ state: LearnerFeed.State, to folder: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(state).write(to: folder.appendingPathComponent(name))
    }

    /// Reads the state saved in the version folder `folder`.
    package static func read(from folder: URL) throws -> LearnerFeed.State {
        try JSONDecoder().decode(LearnerFeed.State.self, from: Data(contentsOf: folder.appendingPathComponent(name)))
    }
}
