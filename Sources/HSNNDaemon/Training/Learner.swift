import Foundation
import HSNNPipeline

/// A learner whose complete state can be captured for a checkpoint.
public protocol CheckpointableLearner: OnlineLearner {
    /// A consistent deep copy, quick to take; written later from another thread.
    func makeSnapshot() -> any LearnerSnapshot
    /// A few cheap figures for progress reports (recent loss, schedule position, ...).
    func progress() -> [String: Double]
}

/// A learner's state captured at one instant, written to a checkpoint folder off the training thread.
public protocol LearnerSnapshot: Sendable {
    /// Writes the state's files into `folder` (which exists and is empty).
    /// - Throws: when a file cannot be written.
    func write(to folder: URL) throws
    /// The model and index configuration, for the manifest.
    var configurationJSON: [String: String] { get }
    /// Index health and other statistics, for the manifest.
    var statistics: [String: Double] { get }
}

/// Creates the model the daemon trains: fresh, or restored from a checkpoint folder.
public protocol LearnerFactory: Sendable {
    /// A new, untrained learner.
    func makeFresh() throws -> any CheckpointableLearner
    /// The learner saved in a checkpoint version's folder by ``LearnerSnapshot/write(to:)``.
    /// - Throws: when the files are missing or do not match the configuration.
    func load(from folder: URL) throws -> any CheckpointableLearner
}
