import Foundation
import HSNNMath

/// The jointly learned hierarchical index (Learning To Index, LTI).
///
/// Each item's vector `v` is the L2-normalised projection of its item-level item tower output.
/// Index level 1 assigns `v` to a codebook of L2-normalised node embeddings; each further level
/// assigns the residual `r_t = r_{t-1} - c_bar_{t-1}` to its own codebook (residual levels).
/// Training uses the soft assignment `a = softmax(-alpha ||r - c_k||^2)` and the soft node
/// embedding `c_bar = sum_k a_k c_k`; serving uses the hard argmin path. A level-`t` node is
/// the prefix path `(m_1 .. m_t)`, numbered `n_t = n_{t-1} * K_t + m_t`.
final class LearnedIndex {
    let levels: Int
    let sizes: [Int]
    let dim: Int
    let projection: Linear
    let codebooks: [DenseParameter]

    // Balance window: for each level, the per-node sums of soft assignments of recent batches.
    let window: Int
    var windowSums: [[[Float]]]
    var windowCounts: [[Int]]

    // Item mapping.
    /// Hard path per item (`levels` entries, -1 = not indexed).
    var path: [Int32] = []
    /// Item vectors `v` (`dim` per item), from the last time the item was mapped.
    var itemVectors: [Float] = []
    /// Items of each leaf node.
    var members: [[Int32]]
    var memberPosition: [Int32] = []
    /// Representative item of each node per level (-1 = none).
    var representatives: [[Int32]]
    var representativesDirty = false
    var movesTotal: Int64 = 0
    var movesLastRemap: Int64 = 0
    var remaps: Int64 = 0
    /// Empty level-1 nodes moved onto crowded regions at full re-mappings.
    var reseeded: Int64 = 0
    /// Running mean of the projected item vectors, subtracted before normalisation so item
    /// vectors spread over the sphere instead of sharing one dominant direction.
    var center: [Float]
    /// Whether the level-1 codebook was seeded from item vectors.
    var codebookSeeded = false
    /// Bumped whenever the mapping or the representatives change (invalidates node caches).
    var version: Int64 = 0

    init(levels: Int, sizes: [Int], dim: Int, itemOutputs: Int, window: Int, rng: inout SeededRandom) {
        self.levels = levels
        self.sizes = Array(sizes.prefix(levels))
        self.dim = dim
        self.window = window
        projection = Linear(name: "index.projection", inputs: itemOutputs, outputs: dim, rng: &rng)
        var books: [DenseParameter] = []
        for t in 0..<levels {
            let p = DenseParameter(name: "index.codebook.\(t)", rows: self.sizes[t], cols: dim)
            // Level 1 nodes on the unit sphere; residual codebooks start small.
            rng.fillNormal(p.value, std: t == 0 ? 1 : 0.05)
            books.append(p)
        }
        codebooks = books
        center = [Float](repeating: 0, count: dim)
        windowSums = self.sizes.map { _ in [] }
        windowCounts = self.sizes.map { _ in [] }
        var count = 1
        var reps: [[Int32]] = []
        for k in self.sizes { count *= k; reps.append([Int32](repeating: -1, count: count)) }
        members = [[Int32]](repeating: [], count: count)
        representatives = reps
    }

    var parameters: [DenseParameter] { projection.parameters + codebooks }

    /// Nodes at level `t` (`K_1 * ... * K_t`).
    func nodeCount(level t: Int) -> Int { sizes.prefix(t + 1).reduce(1, *) }
    var leafCount: Int { nodeCount(level: levels - 1) }

    /// The node of level `t` on an item's hard path.
    @inline(__always) func node(item i: Int, level t: Int) -> Int {
        var n = 0
        for s in 0...t { n = n * sizes[s] + Int(path[i * levels + s]) }
        return n
    }

    /// Normalised level-1 codebook rows into `out`.
    func normalizedFirstCodebook(into out: Matrix, norms: Matrix) {
        let c = codebooks[0].value
        out.rows = c.rows
        norms.rows = c.rows
        for k in 0..<c.rows {
            let row = c.row(k)
            let n = max(dot(row, row, dim).squareRoot(), 1e-6)
            norms.base[k] = n
            let inv = 1 / n
            for j in 0..<dim { out.base[k * dim + j] = row[j] * inv }
        }
    }

    /// Embedding of level-`t` node `n` (sum of the hard codebook entries on its path).
    func nodeEmbedding(level t: Int, node n: Int, firstNormalized: Matrix, into out: UnsafeMutablePointer<Float>) {
        var digits = [Int](repeating: 0, count: t + 1)
        var rest = n
        for s in stride(from: t, through: 0, by: -1) { digits[s] = rest % sizes[s]; rest /= sizes[s] }
        out.update(from: firstNormalized.row(digits[0]), count: dim)
        for s in 1..<(t + 1) { axpy(1, codebooks[s].value.row(digits[s]), out, dim) }
    }

    /// The hard path of a (normalised) item vector: argmin at level 1, then argmin of the hard residual.
    func hardPath(_ v: UnsafePointer<Float>, firstNormalized: Matrix, residual: UnsafeMutablePointer<Float>,
                  into out: UnsafeMutablePointer<Int32>) {
        residual.update(from: v, count: dim)
        for t in 0..<levels {
            let c = t == 0 ? firstNormalized : codebooks[t].value
            var best = 0
            var bestD = Float.infinity
            for k in 0..<sizes[t] {
                let row = c.row(k)
                var d: Float = 0
                for j in 0..<dim { let x = residual[j] - row[j]; d += x * x }
                if d < bestD { bestD = d; best = k }
            }
            out[t] = Int32(best)
            axpy(-1, c.row(best), residual, dim)
        }
    }

    /// Moves the center towards the mean projected vector of a batch (`rows` rows of `vRaw`).
    func updateCenter(_ vRaw: Matrix, rows n: Int, rate: Float = 0.01) {
        guard n > 0 else { return }
        var mean = [Float](repeating: 0, count: dim)
        for r in 0..<n { let x = vRaw.row(r); for j in 0..<dim { mean[j] += x[j] } }
        for j in 0..<dim { center[j] += rate * (mean[j] / Float(n) - center[j]) }
    }

    /// Grows the per-item arrays to `count` items.
    func ensureCapacity(items count: Int) {
        while memberPosition.count < count {
            memberPosition.append(-1)
            path.append(contentsOf: repeatElement(-1, count: levels))
            itemVectors.append(contentsOf: repeatElement(0, count: dim))
        }
    }

    /// Puts item `i` on leaf path `newPath`; counts a move when it was indexed elsewhere.
    func assign(item i: Int, path newPath: UnsafePointer<Int32>, vector: UnsafePointer<Float>) {
        ensureCapacity(items: i + 1)
        let d = dim
        itemVectors.withUnsafeMutableBufferPointer { ($0.baseAddress! + i * d).update(from: vector, count: d) }
        var same = memberPosition[i] >= 0
        for t in 0..<levels where path[i * levels + t] != newPath[t] { same = false }
        if same { return }
        version += 1
        if memberPosition[i] >= 0 {
            movesTotal += 1
            removeFromLeaf(i)
        }
        for t in 0..<levels { path[i * levels + t] = newPath[t] }
        let leaf = node(item: i, level: levels - 1)
        memberPosition[i] = Int32(members[leaf].count)
        members[leaf].append(Int32(i))
        // A node that had no representative gets this item until the next full recomputation.
        for t in 0..<levels {
            let n = node(item: i, level: t)
            if representatives[t][n] < 0 { representatives[t][n] = Int32(i) }
        }
    }

    /// Takes item `i` out of the index (deleted items).
    func remove(item i: Int) {
        guard i < memberPosition.count, memberPosition[i] >= 0 else { return }
        version += 1
        removeFromLeaf(i)
        for t in 0..<levels { path[i * levels + t] = -1 }
        for t in 0..<levels where representatives[t].contains(Int32(i)) { representativesDirty = true }
    }

    private func removeFromLeaf(_ i: Int) {
        let leaf = node(item: i, level: levels - 1)
        let pos = Int(memberPosition[i])
        let last = members[leaf].removeLast()
        if Int(last) != i {
            members[leaf][pos] = last
            memberPosition[Int(last)] = Int32(pos)
        }
        memberPosition[i] = -1
    }

    /// Recomputes every node's representative: the indexed item nearest the node embedding.
    func recomputeRepresentatives() {
        let first = Matrix(rows: sizes[0], cols: dim), norms = Matrix(rows: sizes[0], cols: 1)
        normalizedFirstCodebook(into: first, norms: norms)
        for t in 0..<levels {
            let count = nodeCount(level: t)
            var best = [Int32](repeating: -1, count: count)
            var bestD = [Float](repeating: .infinity, count: count)
            let embeddings = Matrix(rows: count, cols: dim)
            for n in 0..<count { nodeEmbedding(level: t, node: n, firstNormalized: first, into: embeddings.row(n)) }
            itemVectors.withUnsafeBufferPointer { vectors in
                for i in 0..<memberPosition.count where memberPosition[i] >= 0 {
                    let n = node(item: i, level: t)
                    let emb = embeddings.row(n)
                    let v = vectors.baseAddress! + i * dim
                    var d: Float = 0
                    for j in 0..<dim { let x = v[j] - emb[j]; d += x * x }
                    if d < bestD[n] { bestD[n] = d; best[n] = Int32(i) }
                }
            }
            representatives[t] = best
        }
        representativesDirty = false
        version += 1
    }

    /// Appends this batch's per-node assignment sums to the balance window of level `t`.
    func pushWindow(level t: Int, sums: [Float], count: Int) {
        windowSums[t].append(sums)
        windowCounts[t].append(count)
        if windowSums[t].count > window - 1 {
            windowSums[t].removeFirst()
            windowCounts[t].removeFirst()
        }
    }

    /// Health of the index.
    func statistics(liveItems: Int) -> IndexStatistics {
        var sizesNonEmpty: [Int] = []
        var empty = 0
        for m in members { if m.isEmpty { empty += 1 } else { sizesNonEmpty.append(m.count) } }
        sizesNonEmpty.sort()
        func pct(_ p: Double) -> Int {
            sizesNonEmpty.isEmpty ? 0 : sizesNonEmpty[min(sizesNonEmpty.count - 1, Int(p * Double(sizesNonEmpty.count)))]
        }
        var nonEmptyPerLevel: [Int] = []
        for t in 0..<levels {
            var seen = Set<Int>()
            for i in 0..<memberPosition.count where memberPosition[i] >= 0 { seen.insert(node(item: i, level: t)) }
            nonEmptyPerLevel.append(seen.count)
        }
        return IndexStatistics(
            levels: levels, codebookSizes: sizes, indexedItems: sizesNonEmpty.reduce(0, +), liveItems: liveItems,
            leaves: members.count, emptyLeaves: empty, nonEmptyNodesPerLevel: nonEmptyPerLevel,
            leafSizeMin: sizesNonEmpty.first ?? 0, leafSizeP50: pct(0.5), leafSizeP90: pct(0.9), leafSizeP99: pct(0.99),
            leafSizeMax: sizesNonEmpty.last ?? 0, movesTotal: movesTotal, movesLastRemap: movesLastRemap, remaps: remaps,
            reseededNodes: reseeded)
    }
}

/// Health of the hierarchical index: sizes, empty nodes, moves.
public struct IndexStatistics: Sendable, Hashable, Codable {
    public var levels: Int
    public var codebookSizes: [Int]
    /// Items on a leaf (equals the live items when the index is consistent).
    public var indexedItems: Int
    public var liveItems: Int
    public var leaves: Int
    public var emptyLeaves: Int
    public var nonEmptyNodesPerLevel: [Int]
    /// Distribution of non-empty leaf sizes.
    public var leafSizeMin: Int
    public var leafSizeP50: Int
    public var leafSizeP90: Int
    public var leafSizeP99: Int
    public var leafSizeMax: Int
    /// Items that changed leaf (continuous re-mapping and full passes).
    public var movesTotal: Int64
    /// Moves in the last full re-mapping pass.
    public var movesLastRemap: Int64
    public var remaps: Int64
    /// Empty level-1 nodes re-seeded onto crowded regions.
    public var reseededNodes: Int64
}
