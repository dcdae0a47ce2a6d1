import Foundation
import HSNNEvents
import HSNNModel
import Logging
import Metrics

/// The daemon's learner: the HSNN ``RetrievalModel`` (or the two-tower baseline it also implements).
final class HSNNLearner: CheckpointableLearner {
    let model: RetrievalModel
    /// Items not seen for this long in event time expire (`items.ttl_ms`); 0 = never.
    let itemTTLMs: Int64
    /// Batches between two expiry scans (a scan reads every item's last-seen time).
    static let expiryEveryBatches: Int64 = 100
    private let expiredCounter = Counter(label: MetricName.modelItemsExpired)

    init(model: RetrievalModel, itemTTLMs: Int64) {
        self.model = model
        self.itemTTLMs = itemTTLMs
    }

    func apply(_ item: ItemEvent) { model.apply(item) }

    func train(_ batch: [LabeledExample]) {
        model.trainBatch(batch)
        // Expiry runs on the batch count, so it happens at the same points on every run.
        if itemTTLMs > 0, model.counters.batches % Self.expiryEveryBatches == 0 {
            let expired = model.expireItems(notSeenSince: model.counters.nowMs - itemTTLMs)
            expiredCounter.increment(by: expired.count)
        }
    }

    func makeSnapshot() -> any LearnerSnapshot {
        HSNNLearnerSnapshot(snapshot: model.makeSnapshot(), config: model.config, statistics: Self.statistics(of: model))
    }

    func progress() -> [String: Double] {
        let c = model.counters
        return ["loss": Double(c.lastItemLoss), "total_loss": Double(c.lastTotalLoss), "alpha": Double(c.lastAlpha),
                "live_items": Double(model.liveItemCount)]
    }

    static func statistics(of model: RetrievalModel) -> [String: Double] {
        let c = model.counters
        var stats: [String: Double] = [
            "examples_trained": Double(c.examplesTrained), "batches": Double(c.batches),
            "last_item_loss": Double(c.lastItemLoss), "last_total_loss": Double(c.lastTotalLoss),
            "alpha": Double(c.lastAlpha), "balance": Double(c.lastBalance),
            "live_items": Double(model.liveItemCount),
        ]
        if let index = model.indexStatistics {
            for (name, value) in index.summary { stats["index." + name] = Double(value) }
        }
        return stats
    }
}

/// A snapshot of the model, written by the checkpoint publisher's thread.
struct HSNNLearnerSnapshot: LearnerSnapshot {
    let snapshot: ModelSnapshot
    let config: ModelConfig
    let statistics: [String: Double]

    func write(to folder: URL) throws { try snapshot.write(to: folder) }

    var configurationJSON: [String: String] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let text = (try? encoder.encode(config)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return ["model": text, "kind": config.kind.rawValue]
    }
}

/// Makes fresh ``HSNNLearner``s from a configuration, or restores them from checkpoints.
public struct HSNNLearnerFactory: LearnerFactory {
    public let config: ModelConfig
    /// `items.ttl_ms`: items not seen for this long in event time expire; 0 = never.
    public let itemTTLMs: Int64
    private let logger: Logger

    public init(config: ModelConfig, itemTTLMs: Int64 = 0, logger: Logger) {
        self.config = config
        self.itemTTLMs = itemTTLMs
        self.logger = logger
    }

    public func makeFresh() throws -> any CheckpointableLearner {
        HSNNLearner(model: try RetrievalModel(config: config), itemTTLMs: itemTTLMs)
    }

    /// Restores the checkpoint's model. Its configuration is the one it was trained with; a
    /// different model configuration in the daemon's settings is reported, not applied.
    public func load(from folder: URL) throws -> any CheckpointableLearner {
        let model = try RetrievalModel.load(from: folder)
        if model.config != config {
            logger.warning(
                "the checkpoint's model configuration differs from the configured one; training continues with the checkpoint's (start from an empty checkpoint.dir to apply the new one)",
                metadata: ["checkpoint.folder": "\(folder.path)"])
        }
        return HSNNLearner(model: model, itemTTLMs: itemTTLMs)
    }
}
