import HSNNEvents

/// What the pipeline trains: the model behind an online-learning interface.
///
/// Every call comes from the one thread that drives the ``LearnerFeed``.
public protocol OnlineLearner: AnyObject {
    /// Applies an item catalog change (index a new item, remove a deleted one).
    func apply(_ item: ItemEvent)
    /// Trains on one mini-batch, then updates any online state (cross features) from it.
    func train(_ batch: [LabeledExample])
}
