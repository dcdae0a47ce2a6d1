import Foundation
import HSNNEvents
import HSNNMath

extension RetrievalModel {
    /// How often (in trained batches) an HSNN model with ``ModelConfig/clickPriorStrength`` 0
    /// re-estimates the smoothing of its items' lifetime click rates from their lifetime counts
    /// (one pass over the catalog). The estimate is part of the saved state, so a resumed model
    /// continues exactly as an uninterrupted one.
    public static let priorStrengthEveryBatches: Int64 = 16

    /// Trains on labelled examples in order, cut into mini-batches of `config.batchSize` (for
    /// callers holding more than one batch; ``trainBatch(_:)`` takes one already cut), then
    /// updates the cross features and the index mapping of the items in each batch.
    ///
    /// Each step minimises the click BCE on the impressions plus the retrieval objective: for
    /// every click, a sampled softmax over the clicked item and `training.retrieval_negatives`
    /// sampled items with the log-Q correction (see docs/model.md).
    public func train(_ examples: [LabeledExample]) {
        var start = 0
        while start < examples.count {
            let end = min(start + config.batchSize, examples.count)
            trainStep(examples[start..<end])
            start = end
        }
    }

    /// Trains one mini-batch that the caller has already cut (the daemon's pipeline, `hsnn
    /// train`): one optimiser step over `batch`, which holds at most `config.batchSize` examples.
    public func trainBatch(_ batch: [LabeledExample]) {
        precondition(batch.count <= config.batchSize,
                     "a mini-batch holds at most training.batch_size (\(config.batchSize)) examples, got \(batch.count)")
        trainStep(batch[...])
    }

    /// Updates the online state (cross-feature counters, item popularity, clock) from examples
    /// without training the weights.
    public func recordOutcomes(_ examples: [LabeledExample]) {
        for ex in examples {
            let imp = ex.impression
            let i = catalog.ensure(imp.itemID, atMs: imp.timestampMs)
            cross.record(user: stableHash("user_id", imp.userID), item: Int(i), clicked: ex.clicked, catalog: catalog, nowMs: imp.timestampMs)
            counters.nowMs = max(counters.nowMs, imp.timestampMs)
        }
    }

    /// Current temperature `alpha = max(min, max_alpha * (t / T)^exp)`.
    var alpha: Float {
        let x = min(Double(counters.scheduleEvents) / Double(config.scheduleEvents), 1)
        return Float(max(config.minAlpha, config.maxAlpha * pow(x, config.alphaExponent)))
    }

    /// Current index-loss weight (linear warm-up over `warmupFraction * T`).
    var indexLossWeight: Float {
        let warm = config.warmupFraction * Double(config.scheduleEvents)
        let x = warm <= 0 ? 1 : min(Double(counters.scheduleEvents) / warm, 1)
        return Float(config.indexLossWeight * x)
    }

    func trainStep(_ examples: ArraySlice<LabeledExample>) {
        guard !examples.isEmpty else { return }
        if let index, !index.codebookSeeded { seedCodebook() }
        refreshRepresentativesIfDirty()
        let sample = negatives.sample(examples, catalog: catalog)
        featurizeStep(examples, sample)
        let losses = forwardBackward(withGradients: true, hard: false)
        adam.update(denseParameters, scales: learningRateScales)
        index?.codebookVersion += 1
        let lr = Float(config.embeddingLearningRate)
        userTable.adagradUpdate(learningRate: lr)
        itemTable.adagradUpdate(learningRate: lr)
        counters.weightsVersion += 1
        counters.lastItemLoss = losses.item
        counters.lastRetrievalLoss = losses.retrieval
        counters.lastTotalLoss = losses.total
        counters.lastReconstructionLoss = losses.reconstruction
        counters.lastBalance = losses.balance
        counters.lastAlpha = alpha
        // Online state after the examples were trained on: cross features, item mapping.
        let ws = batch
        for j in 0..<ws.impressionRows {
            let i = Int(ws.items[j])
            cross.record(user: ws.users[j], item: i, clicked: ws.labels[j] > 0, catalog: catalog, nowMs: ws.times[j])
            catalog.lastSeenMs[i] = max(catalog.lastSeenMs[i], ws.times[j])
            counters.nowMs = max(counters.nowMs, ws.times[j])
            if ws.labels[j] > 0 { counters.positivesTrained += 1 }
            counters.examplesTrained += 1
        }
        if let index, let iws = ws.indexWS {
            index.ensureCapacity(items: catalog.count)
            for j in 0..<ws.count where catalog.live[Int(ws.items[j])] {
                index.assign(item: Int(ws.items[j]), path: iws.hard + j * index.levels, vector: iws.v.row(j))
            }
            index.updateCenter(iws.vRaw, rows: ws.impressionRows)
            let sums = index.balance(iws, rows: ws.count).sums
            for t in 0..<index.levels { index.pushWindow(level: t, sums: sums[t], count: ws.count) }
        }
        negatives.recordClicks((0..<ws.impressionRows).lazy.filter { ws.labels[$0] > 0 }.map { ws.items[$0] })
        counters.scheduleEvents += Int64(ws.impressionRows)
        counters.batches += 1
        if config.kind == .hsnn, config.clickPriorStrength == 0, counters.batches % Self.priorStrengthEveryBatches == 0 {
            cross.estimatePriorStrength(catalog: catalog)
        }
        if index != nil, config.remapEveryBatches > 0, counters.batches % Int64(config.remapEveryBatches) == 0 {
            remapAll()
        }
    }
}
