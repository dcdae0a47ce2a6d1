/// Scalar state saved beside the tensors (`model.json`).
struct ModelStateHeader: Codable {
    var formatVersion: Int
    var config: ModelConfig
    var layout: FeatureLayout
    var counters: TrainingCounters
    var adamStep: Int64
    var rngState: UInt64
    var crossGlobalImpressions: Double
    var crossGlobalClicks: Double
    var crossGlobalUpdatedMs: Int64
    var indexMovesTotal: Int64
    var indexMovesLastRemap: Int64
    var indexRemaps: Int64
    var indexReseeded: Int64
    var indexVersion: Int64
    var indexRepresentativesDirty: Bool
    var indexCodebookSeeded: Bool
    var indexCenter: [Float]
    var balanceWindowCounts: [[Int]]
    var itemCount: Int
    var indexedItemCapacity: Int
    /// Clock of the click-frequency estimator and the click memory's ring position.
    var frequencyClicks: Int64
    var negativeMemoryNext: Int
    var negativeMemoryFilled: Int
}
