import Foundation
import HSNNMath

/// The jointly learned hierarchical index (Learning To Index, LTI).
///
/// Each item's vector `v` is the L2-normalised projection of its item-level item tower output
/// (centered), plus, when ``attributeWeight`` is positive, a fixed attribute signature of the
/// item's categorical values scaled to `attributeWeight` times the projection's norm (see
/// ``writeSignatures(_:catalog:nowMs:into:)``).
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
    /// Per level, nodes whose representative was removed since the last recomputation.
    var dirtyRepresentatives: [[Int]] = []
    /// Attribute profiles of the nodes per level (rebuilt with the representatives).
    var profiles: [NodeProfiles] = []
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
    /// Bumped whenever a codebook changes (optimizer step, re-seeding): workspaces reuse their
    /// normalised level-1 codebook while it matches.
    var codebookVersion: Int64 = 0
    /// Weight of the attribute signature relative to the learned projection (0 = off).
    let attributeWeight: Float
    /// Weight of each item feature slot in the attribute signature (slot 0, the item id, is 0:
    /// an id groups nothing), then of the item's popularity (its decayed clicks, in powers of
    /// two). Re-estimated from the item level's interaction tower at every full re-mapping.
    var slotWeights: [Float]
    /// `ln 2 / half-life` of the popularity counters (the cross features' decay).
    let popularityDecayRate: Double

    init(levels: Int, sizes: [Int], dim: Int, itemOutputs: Int, window: Int, itemSlots: Int, attributeWeight: Float,
         popularityDecayRate: Double, rng: inout SeededRandom) {
        self.levels = levels
        self.attributeWeight = attributeWeight
        self.popularityDecayRate = popularityDecayRate
        // Feature slots 1... weigh 1 until the first estimate; the id slot and popularity 0.
        slotWeights = (0...itemSlots).map { $0 == 0 || $0 == itemSlots ? 0 : 1 }
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
        dirtyRepresentatives = [[Int]](repeating: [], count: levels)
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

    /// The hard path of a (normalised) item vector below level 1, given its level-1 node
    /// `first`: argmin of the hard residual at each further level.
    func completeHardPath(_ v: UnsafePointer<Float>, first: Int, firstNormalized: Matrix, residual: UnsafeMutablePointer<Float>,
                          into out: UnsafeMutablePointer<Int32>) {
        out[0] = Int32(first)
        guard levels > 1 else { return }
        residual.update(from: v, count: dim)
        axpy(-1, firstNormalized.row(first), residual, dim)
        for t in 1..<levels {
            let c = codebooks[t].value
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

    /// Writes the unit attribute signature of each item (`-1` = unknown: a zero row) into
    /// `ws.signature`: for every feature slot, the mean of fixed pseudo-random codes of the
    /// item's values (a code depends only on the value's hash), weighted by ``slotWeights``,
    /// summed and L2-normalised. Items with the same weighted values get the same signature.
    func writeSignatures(_ items: some Collection<Int32>, catalog: ItemCatalog, nowMs: Int64, into ws: IndexWorkspace) {
        let d = dim, m = ws.signature
        m.rows = items.count
        ws.useSignature = attributeWeight > 0
        guard attributeWeight > 0 else { return }
        let slot = ws.scratch
        for (r, i) in items.enumerated() {
            let out = m.row(r)
            out.update(repeating: 0, count: d)
            guard i >= 0 else { continue }
            let base = Int(i) * catalog.valuesPerItem
            let popularitySlot = slotWeights.count - 1
            if slotWeights[popularitySlot] > 0 {
                let age = Double(max(nowMs - catalog.popUpdatedMs[Int(i)], 0))
                let clicks = Double(catalog.popClicks[Int(i)]) * exp(-age * popularityDecayRate)
                let bucket = UInt64(log2(1 + max(clicks, 0)))
                slot.update(repeating: 0, count: d)
                Self.addCode(of: 0x9090_7070_5050_3030 &+ bucket, into: slot, dim: d)
                axpy(slotWeights[popularitySlot], slot, out, d)
            }
            for s in 1..<popularitySlot where slotWeights[s] > 0 {
                slot.update(repeating: 0, count: d)
                var count: Float = 0
                for j in 0..<catalog.valuesPerItem where catalog.valueHash[base + j] != 0 && Int(catalog.valueSlot[base + j]) == s {
                    Self.addCode(of: catalog.valueHash[base + j], into: slot, dim: d)
                    count += 1
                }
                if count > 0 { axpy(slotWeights[s] / count, slot, out, d) }
            }
            let norm = dot(out, out, d).squareRoot()
            if norm > 1e-6 { let inv = 1 / norm; for j in 0..<d { out[j] *= inv } }
        }
    }

    /// Adds the fixed code of a feature value (entries uniform in `[-1, 1]`, scaled to about
    /// unit length) to `out`.
    @inline(__always) static func addCode(of hash: UInt64, into out: UnsafeMutablePointer<Float>, dim d: Int) {
        var generator = SeededRandom(seed: hash ^ 0x5EED_C0DE_A77B_1B07)
        let scale = (3 / Float(d)).squareRoot() / 32768
        var j = 0
        while j < d {
            // Four 16-bit draws per 64-bit word.
            let z = generator.next()
            for q in 0..<4 where j < d {
                out[j] += (Float((z >> (16 * UInt64(q))) & 0xFFFF) - 32767.5) * scale
                j += 1
            }
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
        // Every node it represents (its own, and any it moved away from before a recomputation).
        for t in 0..<levels {
            for (n, r) in representatives[t].enumerated() where r == Int32(i) {
                dirtyRepresentatives[t].append(n)
                representativesDirty = true
            }
        }
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

    /// Recomputes the representatives (the indexed item nearest the node embedding, the lowest
    /// index on ties) of every node, or with `onlyDirty` of the nodes whose representative was
    /// removed since the last recomputation.
    func recomputeRepresentatives(onlyDirty: Bool = false) {
        let first = Matrix(rows: sizes[0], cols: dim), norms = Matrix(rows: sizes[0], cols: 1)
        normalizedFirstCodebook(into: first, norms: norms)
        let emb = UnsafeMutablePointer<Float>.allocate(capacity: dim)
        defer { emb.deallocate() }
        for t in 0..<levels {
            let count = nodeCount(level: t), leavesPerNode = leafCount / count
            let nodes = onlyDirty ? Set(dirtyRepresentatives[t]).sorted() : Array(0..<count)
            itemVectors.withUnsafeBufferPointer { vectors in
                for n in nodes {
                    nodeEmbedding(level: t, node: n, firstNormalized: first, into: emb)
                    var best: Int32 = -1
                    var bestD = Float.infinity
                    for leaf in (n * leavesPerNode)..<((n + 1) * leavesPerNode) {
                        for i in members[leaf] {
                            let v = vectors.baseAddress! + Int(i) * dim
                            var d: Float = 0
                            for j in 0..<dim { let x = v[j] - emb[j]; d += x * x }
                            if d < bestD || (d == bestD && i < best) { bestD = d; best = i }
                        }
                    }
                    representatives[t][n] = best
                }
            }
            dirtyRepresentatives[t].removeAll()
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
}
