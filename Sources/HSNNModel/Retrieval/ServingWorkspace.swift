import HSNNMath

/// Buffers for serving: one user against many items or nodes, in chunks of `capacity`.
final class ServingWorkspace {
    let capacity: Int
    var itemBatch = PooledLookupBatch()
    var userBatch = PooledLookupBatch()
    let userIn: Matrix
    let itemIn: Matrix
    let crossIn: Matrix
    let gathered: Matrix
    let levelGathered: Matrix
    let interactionIn: Matrix
    let itemWS: MoNNWorkspace
    let levelWS: [MoNNWorkspace]
    let indexWS: IndexWorkspace?
    /// User tower outputs per level (index levels first, item level last).
    let userOut: [Matrix]
    var userScratch: [(slot: Int, hash: UInt64)] = []

    init(model m: RetrievalModel, capacity: Int) {
        self.capacity = capacity
        userIn = Matrix(rows: 1, cols: m.userWidth)
        itemIn = Matrix(rows: capacity, cols: m.itemWidth)
        crossIn = Matrix(rows: capacity, cols: m.cross.width)
        gathered = Matrix(rows: capacity, cols: m.itemModel.itemRows * m.config.dim)
        levelGathered = Matrix(rows: capacity, cols: m.config.indexLevel.itemRows * m.config.dim)
        interactionIn = Matrix(rows: capacity, cols: m.levelInteractionWidth)
        itemWS = m.itemModel.makeWorkspace(capacity: capacity)
        levelWS = m.levelModels.map { $0.makeWorkspace(capacity: capacity) }
        indexWS = m.index.map { IndexWorkspace($0, capacity: capacity, itemOutputs: m.itemModel.itemRows * m.config.dim) }
        userOut = (m.levelModels + [m.itemModel]).map { Matrix(rows: 1, cols: $0.userRows * $0.dim) }
    }
}
