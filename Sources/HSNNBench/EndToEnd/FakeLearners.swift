import HSNNEvents
import HSNNPipeline

/// What a pipeline run hands its learner, in order: the input of the training stage.
enum LearnerStep {
    case item(ItemEvent)
    case batch([LabeledExample])
}

/// Records what the pipeline asks of its learner.
final class RecordingLearner: OnlineLearner {
    var steps: [LearnerStep] = []
    func apply(_ item: ItemEvent) { steps.append(.item(item)) }
    func train(_ batch: [LabeledExample]) { steps.append(.batch(batch)) }
}

/// Counts what the pipeline asks of it and does nothing else.
final class NoOpLearner: OnlineLearner {
    var items = 0
    var examples = 0
    func apply(_ item: ItemEvent) { items += 1 }
    func train(_ batch: [LabeledExample]) { examples += batch.count }
}
