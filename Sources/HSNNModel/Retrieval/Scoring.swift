import HSNNEvents
import HSNNMath

extension RetrievalModel {
    /// Click probabilities of impressions with the serving path (hard index paths); the model
    /// state is not changed (unknown items are scored with id-only features).
    public func score(_ impressions: [ImpressionEvent]) -> [Float] {
        itemLevelLogits(impressions, head: 0).map(Loss.sigmoid)
    }

    /// Item-level ensemble logits of `head` (0 click, 1 retrieval) for impressions, with the
    /// serving path (hard index paths); the model state is not changed.
    func itemLevelLogits(_ impressions: [ImpressionEvent], head: Int) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(impressions.count)
        refreshRepresentativesIfDirty()
        var start = 0
        while start < impressions.count {
            let end = min(start + config.batchSize, impressions.count)
            featurize(impressions[start..<end].lazy.map { ($0, false) }, count: end - start, createItems: false)
            forward(hard: true)
            let row = (head == 0 ? batch.logits : batch.retrievalLogits).row(levelCount - 1)
            for j in 0..<(end - start) { out.append(row[j]) }
            start = end
        }
        return out
    }

    /// The head that ranks at the index levels or the item level: the retrieval head where it
    /// is trained with the retrieval objective, else the click head.
    func rankingHead(indexLevel: Bool) -> Int {
        let trained = config.retrievalNegatives > 0 && config.retrievalWeight > 0 && (!indexLevel || config.retrievalIndexLevels)
        return trained ? 1 : 0
    }

    /// The ensemble (weight, bias) of `head`.
    func ensemble(head: Int) -> (DenseParameter, DenseParameter) {
        head == 1 ? (retrievalEnsembleWeight, retrievalEnsembleBias) : (ensembleWeight, ensembleBias)
    }
}
