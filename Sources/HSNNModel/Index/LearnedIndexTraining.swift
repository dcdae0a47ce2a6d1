import Foundation
import HSNNMath

/// Buffers of the LTI forward and backward passes for batches up to `capacity`.
final class IndexWorkspace {
    let vRaw: Matrix, centered: Matrix, v: Matrix, vNorm: Matrix, centeredNorm: Matrix
    /// Unit attribute signatures of the rows (filled by ``LearnedIndex/writeSignatures(_:catalog:nowMs:into:)``).
    let signature: Matrix
    var useSignature = false
    /// ``LearnedIndex/codebookVersion`` that `firstNormalized` was computed for (-1 = none).
    var normalizedVersion: Int64 = -1
    /// Squared norms of each level's codebook rows (level 1: of `firstNormalized`).
    let codeNorms: [UnsafeMutablePointer<Float>]
    let firstNormalized: Matrix, firstNorms: Matrix
    var residual: [Matrix] = [], scores: [Matrix] = [], assignment: [Matrix] = [], softNode: [Matrix] = []
    var pathEmbedding: [Matrix] = []
    /// Gradients with respect to the path embeddings `e_t` (filled by the caller before backward).
    var pathGrad: [Matrix] = []
    let dSoft: Matrix, dResidual: Matrix, dResidualNext: Matrix, dV: Matrix, dItem: Matrix
    var dAssign: [Matrix] = [], dCode: [Matrix] = []
    let hard: UnsafeMutablePointer<Int32>
    let scratch: UnsafeMutablePointer<Float>
    let capacity: Int

    init(_ index: LearnedIndex, capacity: Int, itemOutputs: Int) {
        self.capacity = capacity
        let d = index.dim
        vRaw = Matrix(rows: capacity, cols: d); centered = Matrix(rows: capacity, cols: d); v = Matrix(rows: capacity, cols: d); vNorm = Matrix(rows: capacity, cols: 1)
        centeredNorm = Matrix(rows: capacity, cols: 1)
        signature = Matrix(rows: capacity, cols: d)
        firstNormalized = Matrix(rows: index.sizes[0], cols: d); firstNorms = Matrix(rows: index.sizes[0], cols: 1)
        for k in index.sizes {
            residual.append(Matrix(rows: capacity, cols: d))
            scores.append(Matrix(rows: capacity, cols: k))
            assignment.append(Matrix(rows: capacity, cols: k))
            softNode.append(Matrix(rows: capacity, cols: d))
            pathEmbedding.append(Matrix(rows: capacity, cols: d))
            pathGrad.append(Matrix(rows: capacity, cols: d))
            dAssign.append(Matrix(rows: capacity, cols: k))
            dCode.append(Matrix(rows: k, cols: d))
        }
        dSoft = Matrix(rows: capacity, cols: d); dResidual = Matrix(rows: capacity, cols: d)
        dResidualNext = Matrix(rows: capacity, cols: d); dV = Matrix(rows: capacity, cols: d)
        dItem = Matrix(rows: capacity, cols: itemOutputs)
        codeNorms = index.sizes.map { k in
            let p = UnsafeMutablePointer<Float>.allocate(capacity: k)
            p.initialize(repeating: 0, count: k)
            return p
        }
        hard = .allocate(capacity: capacity * index.levels)
        hard.initialize(repeating: 0, count: capacity * index.levels)
        scratch = .allocate(capacity: d)
        scratch.initialize(repeating: 0, count: d)
    }

    deinit {
        hard.deallocate()
        scratch.deallocate()
        for p in codeNorms { p.deallocate() }
    }
}

/// Loss terms of the index for one batch.
struct IndexLosses {
    var reconstruction: Float = 0
    var balance: Float = 0
}

extension LearnedIndex {
    /// LTI forward on item tower outputs `items` (`rows x itemOutputs`): item vectors, soft (or,
    /// when `hard`, one-hot) assignments, soft node and path embeddings, and hard paths.
    /// When `ws.useSignature`, `ws.signature` must hold the rows' attribute signatures:
    /// `v = normalize(c + w ||c|| s)` with `c` the centered projection and `s` the signature.
    ///
    /// With `reuseCodebook`, the normalised level-1 codebook of an earlier call is reused while
    /// ``codebookVersion`` is unchanged (serving and catalog updates; training always renormalises,
    /// so finite-difference checks that perturb a codebook see the change).
    func forward(items: Matrix, alpha: Float, hard: Bool, reuseCodebook: Bool = false, _ ws: IndexWorkspace) {
        let n = items.rows, d = dim
        precondition(!ws.useSignature || ws.signature.rows == n, "attribute signatures missing for the batch")
        projection.forward(items, into: ws.vRaw)
        ws.v.rows = n; ws.vNorm.rows = n; ws.centered.rows = n; ws.centeredNorm.rows = n
        let w = ws.useSignature ? attributeWeight : 0
        for r in 0..<n {
            let c = ws.centered.row(r), x = ws.v.row(r)
            let raw = ws.vRaw.row(r)
            for j in 0..<d { c[j] = raw[j] - center[j] }
            x.update(from: c, count: d)
            if w > 0 {
                let cn = max(dot(c, c, d).squareRoot(), 1e-6)
                ws.centeredNorm.base[r] = cn
                axpy(w * cn, ws.signature.row(r), x, d)
            }
            let norm = max(dot(x, x, d).squareRoot(), 1e-6)
            ws.vNorm.base[r] = norm
            let inv = 1 / norm
            for j in 0..<d { x[j] *= inv }
        }
        if !reuseCodebook || ws.normalizedVersion != codebookVersion {
            normalizedFirstCodebook(into: ws.firstNormalized, norms: ws.firstNorms)
            for j in 0..<sizes[0] { ws.codeNorms[0][j] = dot(ws.firstNormalized.row(j), ws.firstNormalized.row(j), d) }
            ws.normalizedVersion = reuseCodebook ? codebookVersion : -1
        }
        for t in 0..<levels {
            let c = t == 0 ? ws.firstNormalized : codebooks[t].value
            let k = sizes[t]
            let r = ws.residual[t]
            r.rows = n
            if t == 0 { r.copy(from: ws.v) } else {
                let prev = ws.residual[t - 1], cbar = ws.softNode[t - 1]
                for i in 0..<(n * d) { r.base[i] = prev.base[i] - cbar.base[i] }
            }
            // scores = -alpha * ||r - c||^2, then softmax over nodes.
            let s = ws.scores[t], a = ws.assignment[t]
            s.rows = n; a.rows = n
            sgemm(.none, .transposed, m: n, n: k, k: d, a: r.base, lda: d, b: c.base, ldb: d, c: s.base, ldc: k)
            // Squared row norms: level 1's were computed with its normalisation above.
            let codeNorms = ws.codeNorms[t]
            if t > 0 { for j in 0..<k { codeNorms[j] = dot(c.row(j), c.row(j), d) } }
            for row in 0..<n {
                let rr = r.row(row)
                let rn = dot(rr, rr, d)
                let sr = s.row(row), ar = a.row(row)
                var maxZ = -Float.infinity
                var best = 0
                var bestDist = Float.infinity
                for j in 0..<k {
                    let dist = rn - 2 * sr[j] + codeNorms[j]
                    let z = -alpha * dist
                    sr[j] = dist
                    ar[j] = z
                    if z > maxZ { maxZ = z }
                    if dist < bestDist { bestDist = dist; best = j }
                }
                if t == 0 {
                    // Level 1 of the hard path from the same distances; the residual chain below it.
                    completeHardPath(ws.v.row(row), first: best, firstNormalized: ws.firstNormalized, residual: ws.scratch,
                                     into: ws.hard + row * levels)
                }
                if hard {
                    // Serving path: the hard residual chain, as in `completeHardPath`.
                    let m = Int(ws.hard[row * levels + t])
                    for j in 0..<k { ar[j] = j == m ? 1 : 0 }
                } else {
                    var sum: Float = 0
                    // Terms below e^-40 of the largest are exactly 0 (they cannot change a float sum).
                    for j in 0..<k {
                        let x = ar[j] - maxZ
                        let e: Float = x < -40 ? 0 : expf(x)
                        ar[j] = e
                        sum += e
                    }
                    let inv = 1 / sum
                    for j in 0..<k { ar[j] *= inv }
                }
            }
            let cbar = ws.softNode[t]
            cbar.rows = n
            sgemm(.none, .none, m: n, n: d, k: k, a: a.base, lda: k, b: c.base, ldb: d, c: cbar.base, ldc: d)
            let e = ws.pathEmbedding[t]
            e.rows = n
            if t == 0 { e.copy(from: cbar) } else {
                let prev = ws.pathEmbedding[t - 1]
                for i in 0..<(n * d) { e.base[i] = prev.base[i] + cbar.base[i] }
            }
        }
    }

    /// The balance regulariser and per-level assignment sums of the batch (before backward).
    func balance(_ ws: IndexWorkspace, rows n: Int) -> (value: Float, sums: [[Float]]) {
        var value: Float = 0
        var all: [[Float]] = []
        for t in 0..<levels {
            let k = sizes[t]
            var sums = [Float](repeating: 0, count: k)
            let a = ws.assignment[t]
            for r in 0..<n { let ar = a.row(r); for j in 0..<k { sums[j] += ar[j] } }
            var total = sums
            for w in windowSums[t] { for j in 0..<k { total[j] += w[j] } }
            let count = Float(n + windowCounts[t].reduce(0, +))
            for j in 0..<k { let m = total[j] / count; value += m * m }
            all.append(sums)
        }
        return (value, all)
    }

    /// LTI backward. Expects `ws.pathGrad[t]` = dL/de_t from the level models; adds the
    /// reconstruction loss `w_rec * mean ||e_last - v||^2` and the balance regulariser
    /// `w_bal * sum_k (mean soft assignment)^2` (over the window and this batch); accumulates
    /// codebook and projection gradients; writes dL/d(item tower output) into `ws.dItem`.
    func backward(items: Matrix, alpha: Float, reconstructionWeight: Float, balanceWeight: Float, _ ws: IndexWorkspace) -> IndexLosses {
        let n = items.rows, d = dim
        var losses = IndexLosses()
        let last = ws.pathEmbedding[levels - 1]
        ws.dV.rows = n
        ws.dV.zero()
        // Reconstruction: e_last vs v.
        var rec: Float = 0
        let scale = 2 * reconstructionWeight / Float(n)
        for i in 0..<(n * d) {
            let diff = last.base[i] - ws.v.base[i]
            rec += diff * diff
            ws.pathGrad[levels - 1].base[i] += scale * diff
            ws.dV.base[i] -= scale * diff
        }
        losses.reconstruction = rec / Float(n)
        // Balance totals (window + this batch).
        var balanceGrad: [[Float]] = []
        for t in 0..<levels {
            let k = sizes[t]
            var total = [Float](repeating: 0, count: k)
            let a = ws.assignment[t]
            for r in 0..<n { let ar = a.row(r); for j in 0..<k { total[j] += ar[j] } }
            for w in windowSums[t] { for j in 0..<k { total[j] += w[j] } }
            let count = Float(n + windowCounts[t].reduce(0, +))
            var g = [Float](repeating: 0, count: k)
            for j in 0..<k {
                let m = total[j] / count
                losses.balance += m * m
                g[j] = balanceWeight * 2 * m / count
            }
            balanceGrad.append(g)
        }
        // dcbar_t = sum_{s >= t} de_s (suffix sums), walking levels backwards.
        ws.dSoft.rows = n
        ws.dResidualNext.rows = n
        ws.dResidualNext.zero()
        ws.dSoft.zero()
        for t in stride(from: levels - 1, through: 0, by: -1) {
            let k = sizes[t]
            let c = t == 0 ? ws.firstNormalized : codebooks[t].value
            let a = ws.assignment[t], r = ws.residual[t]
            // Gradient of c_bar_t: path embeddings at and below t, minus the next residual's gradient.
            for i in 0..<(n * d) { ws.dSoft.base[i] += ws.pathGrad[t].base[i] }
            let dCbar = ws.dResidual
            dCbar.rows = n
            for i in 0..<(n * d) { dCbar.base[i] = ws.dSoft.base[i] - ws.dResidualNext.base[i] }
            // dC = a^T dCbar; da = dCbar C^T + balance.
            let dC = ws.dCode[t]
            sgemm(.transposed, .none, m: k, n: d, k: n, a: a.base, lda: k, b: dCbar.base, ldb: d, c: dC.base, ldc: d)
            let da = ws.dAssign[t]
            da.rows = n
            sgemm(.none, .transposed, m: n, n: k, k: d, a: dCbar.base, lda: d, b: c.base, ldb: d, c: da.base, ldc: k)
            let bg = balanceGrad[t]
            // Softmax backward -> d(dist) = -alpha * a * (da - sum a*da), stored in da.
            for row in 0..<n {
                let ar = a.row(row), dr = da.row(row)
                var s: Float = 0
                for j in 0..<k { dr[j] += bg[j]; s += ar[j] * dr[j] }
                for j in 0..<k { dr[j] = -alpha * ar[j] * (dr[j] - s) }
            }
            // dist_jk = ||r_j - c_k||^2: dr_j += 2 (sum_k dd_jk) r_j - 2 (dd C)_j ; dC += -2 (dd^T r - colsum(dd) c).
            let dR = ws.dResidualNext  // becomes dr_t (gradient of this level's residual input)
            sgemm(.none, .none, m: n, n: d, k: k, alpha: -2, a: da.base, lda: k, b: c.base, ldb: d, beta: 1, c: dR.base, ldc: d)
            for row in 0..<n {
                let dr = da.row(row)
                var s: Float = 0
                for j in 0..<k { s += dr[j] }
                axpy(2 * s, r.row(row), dR.row(row), d)
            }
            sgemm(.transposed, .none, m: k, n: d, k: n, alpha: -2, a: da.base, lda: k, b: r.base, ldb: d, beta: 1, c: dC.base, ldc: d)
            var columnSums = [Float](repeating: 0, count: k)
            for row in 0..<n { axpy(1, da.row(row), &columnSums, k) }
            for j in 0..<k { axpy(2 * columnSums[j], c.row(j), dC.row(j), d) }
            // Codebook gradient (level 1 through the L2 normalisation).
            let g = codebooks[t].grad
            if t == 0 {
                for j in 0..<k {
                    let ch = c.row(j), dc = dC.row(j), gr = g.row(j)
                    let proj = dot(ch, dc, d)
                    let inv = 1 / ws.firstNorms.base[j]
                    for x in 0..<d { gr[x] += (dc[x] - ch[x] * proj) * inv }
                }
            } else {
                for i in 0..<(k * d) { g.base[i] += dC.base[i] }
            }
            // Residual r_t = r_{t-1} - c_bar_{t-1}: dr_t flows to r_{t-1} and (negated) to c_bar_{t-1}.
        }
        // r_1 = v.
        for i in 0..<(n * d) { ws.dV.base[i] += ws.dResidualNext.base[i] }
        // v = x / ||x||, x = c + w ||c|| s (s constant), c = vRaw - center.
        let w = ws.useSignature ? attributeWeight : 0
        for r in 0..<n {
            let v = ws.v.row(r), dv = ws.dV.row(r)
            let p = dot(v, dv, d)
            let inv = 1 / ws.vNorm.base[r]
            for j in 0..<d { dv[j] = (dv[j] - v[j] * p) * inv }
            if w > 0 {
                // dc = dx + w (s . dx) c / ||c||.
                let cn = ws.centeredNorm.base[r]
                axpy(w * dot(ws.signature.row(r), dv, d) / cn, ws.centered.row(r), dv, d)
            }
        }
        projection.backward(input: items, outputGrad: ws.dV, inputGrad: ws.dItem)
        return losses
    }
}
