import HSNNEvents
import HSNNMath

extension RetrievalModel {
    /// Multiply-accumulates of one training example's forward pass.
    public var forwardMacsPerExample: Int {
        func mlp(_ m: MLP?) -> Int { m?.layers.reduce(0) { $0 + $1.inputs * $1.outputs } ?? 0 }
        func monn(_ m: MoNN) -> Int { mlp(m.userTower) + mlp(m.itemTower) + mlp(m.interaction) + m.headMACs }
        var total = monn(itemModel) + levelModels.reduce(0) { $0 + monn($1) }
        if let index {
            total += index.projection.inputs * index.projection.outputs
            // Distances and soft node embeddings per level.
            total += index.sizes.reduce(0) { $0 + 2 * $1 * index.dim }
        }
        return total
    }

    /// Multiply-accumulates of the user towers in ``forwardMacsPerExample``: a retrieval
    /// negative shares its click's user tower outputs, so these run once per impression.
    public var userTowerMacsPerExample: Int {
        ([itemModel] + levelModels).reduce(0) { $0 + ($1.userTower.layers.reduce(0) { $0 + $1.inputs * $1.outputs }) }
    }

    /// Builds a corpus at once: stores the features of `count` catalog items (`item(i)` gives the
    /// upsert of item `i`, called in order) without mapping each onto the index, then seeds the
    /// level-1 codebook from them. Call ``prepareForServing()`` next to retrieve from it.
    package func loadCatalogWithoutIndexing(count: Int, item: (Int) -> ItemEvent) {
        for i in 0..<count {
            let event = item(i)
            let idx = catalog.ensure(event.itemID, atMs: event.timestampMs)
            catalog.setFeatures(idx, event.features, layout: &layout, atMs: event.timestampMs)
        }
        seedCodebook()
    }
}
