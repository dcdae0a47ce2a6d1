import Foundation

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
    /// The smoothing of the items' lifetime click rates in use (absent before it was estimated).
    var crossPriorStrength: Float?
}

extension ModelStateHeader {
    /// Configuration keys whose absence means the folder was written before they existed,
    /// with the value that keeps that model as it was trained (rather than today's default).
    static let valuesBeforeKeysExisted: [String: any Sendable] = ["clickPrior": false, "clickPriorStrength": 20.0]

    /// Decodes `model.json`. Configuration keys added to ``ModelConfig`` after the folder was
    /// written take their current defaults, or ``valuesBeforeKeysExisted``; everything else
    /// must be present.
    static func decode(_ data: Data) throws -> ModelStateHeader {
        do {
            return try JSONDecoder().decode(ModelStateHeader.self, from: data)
        } catch DecodingError.keyNotFound(let key, let context) where context.codingPath.first?.stringValue == "config" {
            guard var object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
                  var config = object["config"] as? [String: Any],
                  let defaults = try JSONSerialization.jsonObject(with: JSONEncoder().encode(ModelConfig())) as? [String: Any]
            else { throw DecodingError.keyNotFound(key, context) }
            for (name, value) in defaults where config[name] == nil { config[name] = valuesBeforeKeysExisted[name].map { $0 as Any } ?? value }
            object["config"] = config
            return try JSONDecoder().decode(ModelStateHeader.self, from: JSONSerialization.data(withJSONObject: object))
        }
    }
}
