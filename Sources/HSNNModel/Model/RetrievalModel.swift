import Foundation
import HSNNEvents
import HSNNMath

/// The model the daemon trains: HSNN (MoNN + jointly learned hierarchical index) or the
/// two-tower baseline, with its feature pipeline, item catalog and online cross features.
///
/// One thread owns it: the daemon calls ``apply(_:)`` for catalog changes and ``train(_:)``
/// for labelled mini-batches in stream order, and ``makeSnapshot()`` between batches for a
/// checkpoint. Same configuration (seed included) and same events give the same model bit
/// for bit on one BLAS thread.
///
/// Its entry points, by concern:
/// - catalog: ``apply(_:)``, ``expireItems(notSeenSince:)``, ``liveItemCount``, ``liveItemIDs()``;
/// - training: ``train(_:)``, ``recordOutcomes(_:)``, ``remapAll()``, ``counters``;
/// - retrieval: ``retrieve(_:k:mode:excluding:excludeSeen:)``, ``score(_:)``,
///   ``prepareForServing()``, ``indexStatistics``;
/// - state: ``makeSnapshot()``, ``write(to:)``, ``load(from:)``.
public final class RetrievalModel {
    public let config: ModelConfig
    var layout: FeatureLayout
    let catalog: ItemCatalog
    let cross: CrossFeatureStore
    let userTable: EmbeddingTable
    let itemTable: EmbeddingTable
    /// The item-level MoNN (for two-tower: the two towers).
    let itemModel: MoNN
    /// Index-level MoNNs, coarsest first (empty for two-tower).
    let levelModels: [MoNN]
    let index: LearnedIndex?
    /// Ensemble: level `l`'s logit is `sum_{t <= l} W[l, t] * o_t + b[l]` over MoNN outputs `o_t`.
    let ensembleWeight: DenseParameter
    let ensembleBias: DenseParameter
    /// The same ensemble for the retrieval head.
    let retrievalEnsembleWeight: DenseParameter
    let retrievalEnsembleBias: DenseParameter
    /// Negatives of the retrieval objective (click frequencies, recent clicks, the random stream).
    var negatives: NegativeSampler
    var adam: AdamOptimizer
    public internal(set) var counters = TrainingCounters()
    let denseParameters: [DenseParameter]
    /// Per-parameter learning-rate multipliers (node embeddings learn slower than weights).
    let learningRateScales: [Float]

    let userWidth: Int
    let itemWidth: Int
    let levelItemWidth: Int
    lazy var batch = BatchWorkspace(model: self, capacity: config.batchSize * (1 + config.retrievalNegatives))
    lazy var serving = ServingWorkspace(model: self, capacity: 2048)
    var servingCache = ServingCache()
    /// Replaces the auxiliary MSE target (the item-level interaction output, a constant for the
    /// gradient) in finite-difference checks.
    var frozenAuxiliaryTarget: Matrix?

    /// A fresh model with weights drawn from `config.seed`.
    /// - Throws: ``ModelConfigError`` when the configuration is invalid.
    public init(config: ModelConfig) throws(ModelConfigError) {
        try config.validate()
        self.config = config
        layout = FeatureLayout(config: config)
        catalog = ItemCatalog(valuesPerItem: config.maxItemValues, denseWidth: config.maxDenseFeatures)
        cross = CrossFeatureStore(itemSlots: 1 + config.maxItemFields, config: config)
        var rng = SeededRandom(seed: config.seed)
        let e = config.embeddingDim
        userTable = EmbeddingTable(name: "embedding.user", rows: config.hashBuckets, dim: e, initStd: 0.05, rng: &rng)
        itemTable = EmbeddingTable(name: "embedding.item", rows: config.hashBuckets, dim: e, initStd: 0.05, rng: &rng)
        userWidth = (1 + config.maxUserFields) * e + config.maxDenseFeatures
        itemWidth = (1 + config.maxItemFields) * e + config.maxDenseFeatures
        levelItemWidth = config.indexDim + itemWidth
        let crossWidth = CrossFeatureStore.width(itemSlots: 1 + config.maxItemFields)
        switch config.kind {
        case .twoTower:
            let size = MoNNSize(userRows: 1, itemRows: 1, towerHidden: config.itemLevel.towerHidden, interactionHidden: [], overHidden: [])
            itemModel = MoNN(name: "two_tower", userInputs: userWidth, itemInputs: itemWidth, interactionInputs: nil, size: size,
                             dim: config.dim, withOverArch: false, layerNorm: config.layerNorm, rng: &rng)
            levelModels = []
            index = nil
        case .hsnn:
            itemModel = MoNN(name: "level\(config.levels - 1)", userInputs: userWidth, itemInputs: itemWidth,
                             interactionInputs: crossWidth, size: config.itemLevel, dim: config.dim, withOverArch: true,
                             layerNorm: config.layerNorm, rng: &rng)
            var levels: [MoNN] = []
            for l in 0..<(config.levels - 1) {
                levels.append(MoNN(name: "level\(l)", userInputs: userWidth, itemInputs: config.indexDim + itemWidth,
                                   interactionInputs: userWidth + config.indexDim + itemWidth + (config.nodeCrossFeatures ? crossWidth : 0),
                                   size: config.indexLevel,
                                   dim: config.dim, withOverArch: true, layerNorm: config.layerNorm, rng: &rng))
            }
            levelModels = levels
            index = LearnedIndex(levels: config.levels - 1, sizes: config.nodes, dim: config.indexDim,
                                 itemOutputs: config.itemLevel.itemRows * config.dim, window: config.balanceWindow,
                                 itemSlots: 1 + config.maxItemFields, attributeWeight: Float(config.attributeWeight),
                                 popularityDecayRate: log(2) / config.crossHalfLifeMs, rng: &rng)
        }
        let levelCount = levelModels.count + 1
        ensembleWeight = DenseParameter(name: "ensemble.weight", rows: levelCount, cols: levelCount)
        ensembleBias = DenseParameter(name: "ensemble.bias", rows: 1, cols: levelCount)
        retrievalEnsembleWeight = DenseParameter(name: "ensemble.retrieval.weight", rows: levelCount, cols: levelCount)
        retrievalEnsembleBias = DenseParameter(name: "ensemble.retrieval.bias", rows: 1, cols: levelCount)
        for l in 0..<levelCount { ensembleWeight.value[l, l] = 1; retrievalEnsembleWeight.value[l, l] = 1 }
        var dense = itemModel.parameters
        for m in levelModels { dense += m.parameters }
        if let index { dense += index.parameters }
        if config.kind == .hsnn { dense += [ensembleWeight, ensembleBias, retrievalEnsembleWeight, retrievalEnsembleBias] }
        denseParameters = dense
        let books = Set((index?.codebooks ?? []).map { ObjectIdentifier($0) })
        learningRateScales = dense.map { books.contains(ObjectIdentifier($0)) ? Float(config.codebookLearningRateScale) : 1 }
        adam = AdamOptimizer(learningRate: Float(config.learningRate), clip: Float(config.gradientClip))
        negatives = NegativeSampler(config: config, rng: rng)
    }

    /// Inputs of an index level's interaction tower: `[user, node item input, (user, representative) cross features]`.
    var levelInteractionWidth: Int { userWidth + levelItemWidth + (config.nodeCrossFeatures ? cross.width : 0) }

    /// Levels scored per pair (index levels + the item level).
    var levelCount: Int { levelModels.count + 1 }
}
