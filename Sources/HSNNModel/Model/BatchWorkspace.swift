import HSNNMath

/// Preallocated buffers for one training or scoring batch of up to `capacity` examples.
final class BatchWorkspace {
    let capacity: Int
    var count = 0
    var userBatch = PooledLookupBatch()
    var itemBatch = PooledLookupBatch()
    var repBatch: [PooledLookupBatch]
    let userIn: Matrix, itemIn: Matrix, crossIn: Matrix
    let levelItemIn: [Matrix], levelInteractionIn: [Matrix]
    let dUserIn: Matrix, dUserTmp: Matrix, dItemIn: Matrix
    let dLevelItemIn: [Matrix], dLevelInteractionIn: [Matrix]
    let auxGrad: [Matrix]
    let itemWS: MoNNWorkspace
    let levelWS: [MoNNWorkspace]
    let indexWS: IndexWorkspace?
    /// Per level (index levels first, the item level last): MoNN outputs, ensemble logits and gradients.
    let levelOutput: Matrix, logits: Matrix, dLogits: Matrix, dOutput: Matrix
    /// The same for the retrieval head.
    let retrievalOutput: Matrix, retrievalLogits: Matrix, dRetrievalLogits: Matrix, dRetrievalOutput: Matrix
    /// Rows `0..<impressionRows` are impressions (click BCE); the rest are retrieval negatives.
    var impressionRows = 0
    /// Retrieval softmax groups (row indices, the click first), the log expected count of each
    /// row's item under the negative sampling, and rows left out of their group (accidental hits).
    var retrievalGroups = SoftmaxGroups()
    var logQ: [Float]
    var masked: [Bool]
    var labels: [Float]
    var weights: [Float]
    var items: [Int32]
    var itemHashes: [UInt64]
    var users: [UInt64]
    var times: [Int64]
    /// Row `j`'s user row in `userIn`: impression rows have their own, a retrieval negative
    /// shares its click's (the user towers run once per impression).
    let userRowOf: UnsafeMutablePointer<Int32>
    var userScratch: [(slot: Int, hash: UInt64)] = []

    init(model m: RetrievalModel, capacity: Int) {
        self.capacity = capacity
        let levels = m.levelModels.count
        repBatch = [PooledLookupBatch](repeating: PooledLookupBatch(), count: levels)
        userIn = Matrix(rows: capacity, cols: m.userWidth)
        itemIn = Matrix(rows: capacity, cols: m.itemWidth)
        crossIn = Matrix(rows: capacity, cols: m.cross.width)
        levelItemIn = (0..<levels).map { _ in Matrix(rows: capacity, cols: m.levelItemWidth) }
        levelInteractionIn = (0..<levels).map { _ in Matrix(rows: capacity, cols: m.levelInteractionWidth) }
        dUserIn = Matrix(rows: capacity, cols: m.userWidth)
        dUserTmp = Matrix(rows: capacity, cols: m.userWidth)
        dItemIn = Matrix(rows: capacity, cols: m.itemWidth)
        dLevelItemIn = (0..<levels).map { _ in Matrix(rows: capacity, cols: m.levelItemWidth) }
        dLevelInteractionIn = (0..<levels).map { _ in Matrix(rows: capacity, cols: m.levelInteractionWidth) }
        auxGrad = (0..<levels).map { _ in Matrix(rows: capacity, cols: m.config.dim) }
        itemWS = m.itemModel.makeWorkspace(capacity: capacity)
        levelWS = m.levelModels.map { $0.makeWorkspace(capacity: capacity) }
        indexWS = m.index.map { IndexWorkspace($0, capacity: capacity, itemOutputs: m.itemModel.itemRows * m.config.dim) }
        levelOutput = Matrix(rows: levels + 1, cols: capacity)
        logits = Matrix(rows: levels + 1, cols: capacity)
        dLogits = Matrix(rows: levels + 1, cols: capacity)
        dOutput = Matrix(rows: levels + 1, cols: capacity)
        retrievalOutput = Matrix(rows: levels + 1, cols: capacity)
        retrievalLogits = Matrix(rows: levels + 1, cols: capacity)
        dRetrievalLogits = Matrix(rows: levels + 1, cols: capacity)
        dRetrievalOutput = Matrix(rows: levels + 1, cols: capacity)
        logQ = [Float](repeating: 0, count: capacity)
        masked = [Bool](repeating: false, count: capacity)
        labels = [Float](repeating: 0, count: capacity)
        weights = [Float](repeating: 1, count: capacity)
        items = [Int32](repeating: -1, count: capacity)
        itemHashes = [UInt64](repeating: 0, count: capacity)
        users = [UInt64](repeating: 0, count: capacity)
        times = [Int64](repeating: 0, count: capacity)
        userRowOf = .allocate(capacity: max(capacity, 1))
        userRowOf.initialize(repeating: 0, count: max(capacity, 1))
        userScratch.reserveCapacity(32)
    }

    deinit { userRowOf.deallocate() }
}
