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
}
