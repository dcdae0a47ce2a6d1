import Foundation
import Testing
@testable import HSNNMath

/// Finite-difference checks: every hand-written backward pass against central differences of
/// the loss `L = sum(output * R)` for a fixed random `R` (so `dL/doutput = R`).

private func randomMatrix(_ rows: Int, _ cols: Int, _ rng: inout SeededRandom, std: Float = 1) -> Matrix {
    let m = Matrix(rows: rows, cols: cols)
    rng.fillNormal(m, std: std)
    return m
}

private func weightedSum(_ a: Matrix, _ r: Matrix) -> Double {
    var s: Double = 0
    for i in 0..<a.count { s += Double(a.base[i]) * Double(r.base[i]) }
    return s
}

/// Checks `analytic[i]` against the central difference of `loss` when `target.base[i]` moves.
private func checkGradient(
    _ label: String, target: Matrix, analytic: [Float], indices: [Int]? = nil, eps: Float = 1e-2, tolerance: Double = 2e-2,
    loss: () -> Double
) {
    let idx = indices ?? Array(0..<target.count)
    for i in idx {
        let saved = target.base[i]
        target.base[i] = saved + eps
        let plus = loss()
        target.base[i] = saved - eps
        let minus = loss()
        target.base[i] = saved
        let numeric = (plus - minus) / Double(2 * eps)
        let a = Double(analytic[i])
        let scale = max(1, abs(numeric), abs(a))
        #expect(abs(numeric - a) / scale < tolerance, "\(label)[\(i)]: numeric \(numeric) vs analytic \(a)")
    }
}

@Test func linearGradients() {
    var rng = SeededRandom(seed: 1)
    let layer = Linear(name: "l", inputs: 5, outputs: 3, rng: &rng)
    rng.fillNormal(layer.bias.value, std: 0.5)
    let x = randomMatrix(4, 5, &rng), r = randomMatrix(4, 3, &rng), y = Matrix(rows: 4, cols: 3), dx = Matrix(rows: 4, cols: 5)
    func loss() -> Double { layer.forward(x, into: y); return weightedSum(y, r) }
    _ = loss()
    layer.backward(input: x, outputGrad: r, inputGrad: dx)
    checkGradient("dW", target: layer.weight.value, analytic: layer.weight.grad.toArray(), loss: loss)
    checkGradient("db", target: layer.bias.value, analytic: layer.bias.grad.toArray(), loss: loss)
    checkGradient("dx", target: x, analytic: dx.toArray(), loss: loss)
}

@Test func reluGradient() {
    var rng = SeededRandom(seed: 2)
    let x = randomMatrix(3, 7, &rng)
    // Keep inputs away from the kink so finite differences are valid.
    for i in 0..<x.count where abs(x.base[i]) < 0.1 { x.base[i] = 0.5 }
    let r = randomMatrix(3, 7, &rng)
    func loss() -> Double { let y = x.copy(); ReLU.forward(y); return weightedSum(y, r) }
    let y = x.copy(); ReLU.forward(y)
    let g = r.copy(); ReLU.backward(output: y, grad: g)
    checkGradient("dx", target: x, analytic: g.toArray(), loss: loss)
}

@Test func layerNormGradients() {
    var rng = SeededRandom(seed: 3)
    let ln = LayerNorm(name: "n", width: 6)
    rng.fillNormal(ln.gamma.value, std: 1)
    rng.fillNormal(ln.beta.value, std: 1)
    let x = randomMatrix(4, 6, &rng, std: 2), r = randomMatrix(4, 6, &rng)
    let y = Matrix(rows: 4, cols: 6), xhat = Matrix(rows: 4, cols: 6), inv = Matrix(rows: 4, cols: 1), dx = Matrix(rows: 4, cols: 6)
    func loss() -> Double { ln.forward(x, into: y, xhat: xhat, invStd: inv); return weightedSum(y, r) }
    _ = loss()
    ln.backward(outputGrad: r, xhat: xhat, invStd: inv, inputGrad: dx)
    checkGradient("dgamma", target: ln.gamma.value, analytic: ln.gamma.grad.toArray(), eps: 1e-3, loss: loss)
    checkGradient("dbeta", target: ln.beta.value, analytic: ln.beta.grad.toArray(), eps: 1e-3, loss: loss)
    checkGradient("dx", target: x, analytic: dx.toArray(), eps: 1e-3, loss: loss)
}

@Test(arguments: [false, true])
func mlpGradients(layerNorm: Bool) {
    var rng = SeededRandom(seed: 4)
    let mlp = MLP(name: "m", sizes: [6, 8, 5, 2], layerNorm: layerNorm, rng: &rng)
    let ws = mlp.makeWorkspace(capacity: 5)
    let x = randomMatrix(5, 6, &rng), r = randomMatrix(5, 2, &rng), dx = Matrix(rows: 5, cols: 6)
    func loss() -> Double { weightedSum(mlp.forward(x, ws), r) }
    _ = loss()
    let dy = r.copy()
    mlp.backward(input: x, outputGrad: dy, ws, inputGrad: dx)
    checkGradient("dx", target: x, analytic: dx.toArray(), eps: 1e-3, loss: loss)
    for p in mlp.parameters {
        checkGradient(p.name, target: p.value, analytic: p.grad.toArray(), eps: 1e-3, loss: loss)
    }
}

@Test(arguments: [Pooling.sum, Pooling.mean])
func pooledEmbeddingGradients(pooling: Pooling) {
    var rng = SeededRandom(seed: 5)
    let table = EmbeddingTable(name: "t", rows: 10, dim: 4, initStd: 1, rng: &rng)
    var batch = PooledLookupBatch()
    batch.reset(fields: 2)
    // example 0: field 0 = rows {1, 3}, field 1 = {2}; example 1: field 0 = {3, 3, 7}, field 1 = {} (empty).
    for rows in [[1, 3], [2], [3, 3, 7], []] as [[Int32]] {
        for r in rows { batch.append(row: r) }
        batch.endSlot()
    }
    #expect(batch.examples == 2)
    let out = Matrix(rows: 2, cols: 8), r = randomMatrix(2, 8, &rng)
    func loss() -> Double { table.forward(batch, pooling: pooling, into: out); return weightedSum(out, r) }
    _ = loss()
    // The empty slot pools to zeros.
    #expect((0..<4).allSatisfy { out[1, 4 + $0] == 0 })
    table.backward(batch, pooling: pooling, outputGrad: r)
    #expect(table.touchedRows == [1, 3, 2, 7])
    checkGradient("table", target: table.table, analytic: table.gradient.toArray(), eps: 1e-3, loss: loss)
}

@Test func bceWithLogitsGradient() {
    var rng = SeededRandom(seed: 6)
    let z = randomMatrix(1, 6, &rng, std: 3)
    let y: [Float] = [1, 0, 1, 0, 0, 1]
    let w: [Float] = [1, 2, 0.5, 1, 3, 1]
    var g = [Float](repeating: 0, count: 6)
    func loss() -> Double {
        Double(y.withUnsafeBufferPointer { yb in w.withUnsafeBufferPointer { wb in
            Loss.bceWithLogits(logits: z.base, labels: yb.baseAddress!, weights: wb.baseAddress!, count: 6, grad: nil)
        } })
    }
    let l = y.withUnsafeBufferPointer { yb in w.withUnsafeBufferPointer { wb in g.withUnsafeMutableBufferPointer { gb in
        Loss.bceWithLogits(logits: z.base, labels: yb.baseAddress!, weights: wb.baseAddress!, count: 6, grad: gb.baseAddress!)
    } } }
    #expect(abs(Double(l) - loss()) < 1e-6)
    checkGradient("dz", target: z, analytic: g, eps: 1e-3, tolerance: 1e-2, loss: loss)
    // Extreme logits stay finite.
    let big: [Float] = [80, -80]
    let lbl: [Float] = [0, 1]
    let extreme = big.withUnsafeBufferPointer { b in lbl.withUnsafeBufferPointer { l in
        Loss.bceWithLogits(logits: b.baseAddress!, labels: l.baseAddress!, weights: nil, count: 2, grad: nil) } }
    #expect(extreme.isFinite && abs(extreme - 80) < 1e-3)
}

@Test func sampledSoftmaxGradientWithCorrection() {
    var rng = SeededRandom(seed: 9)
    let s = randomMatrix(1, 9, &rng, std: 2)
    // Three groups (the positive first); row 8 belongs to no group; row 5 is an accidental hit.
    let groups = [[0, 3, 4, 5], [1, 6, 7], [2, 3]]
    let logQ: [Float] = [-1.5, 0.3, -4, 2, -0.7, 1, -2.2, 0.1, 5]
    var masked = [Bool](repeating: false, count: 9)
    masked[5] = true
    func value(grad: UnsafeMutablePointer<Float>?) -> Float {
        logQ.withUnsafeBufferPointer { q in masked.withUnsafeBufferPointer { m in
            Loss.sampledSoftmax(logits: s.base, logQ: q.baseAddress!, masked: m.baseAddress!, groups: SoftmaxGroups(groups), rowCount: 9, grad: grad)
        } }
    }
    func loss() -> Double { Double(value(grad: nil)) }
    var g = [Float](repeating: 7, count: 9)
    let l = g.withUnsafeMutableBufferPointer { value(grad: $0.baseAddress!) }
    // The loss against its definition: mean over groups of -z_pos + log sum exp z, z = s - logQ.
    var expected: Double = 0
    for group in groups {
        let z = group.filter { !masked[$0] }.map { Double(s.base[$0] - logQ[$0]) }
        expected += -z[0] + log(z.map { exp($0) }.reduce(0, +))
    }
    #expect(abs(Double(l) - expected / 3) < 1e-5)
    checkGradient("ds", target: s, analytic: g, eps: 1e-3, tolerance: 1e-2, loss: loss)
    #expect(g[8] == 0 && g[5] == 0, "rows outside every group and masked rows get no gradient")
    // The correction matters: without it the loss differs.
    let zero = [Float](repeating: 0, count: 9)
    let plain = zero.withUnsafeBufferPointer { q in
        Loss.sampledSoftmax(logits: s.base, logQ: q.baseAddress!, masked: nil, groups: SoftmaxGroups(groups), rowCount: 9, grad: nil)
    }
    #expect(abs(plain - l) > 1e-3)
}

@Test func mseGradient() {
    var rng = SeededRandom(seed: 7)
    let a = randomMatrix(3, 4, &rng), b = randomMatrix(3, 4, &rng)
    var g = [Float](repeating: 0, count: 12)
    func loss() -> Double { Double(Loss.mse(a.base, b.base, rows: 3, width: 4, grad: nil)) }
    g.withUnsafeMutableBufferPointer { _ = Loss.mse(a.base, b.base, rows: 3, width: 4, grad: $0.baseAddress!) }
    checkGradient("da", target: a, analytic: g, eps: 1e-3, loss: loss)
}

@Test func adamStepMatchesTheFormula() {
    let p = DenseParameter(name: "p", rows: 1, cols: 2)
    p.value.load([1, -1])
    p.grad.load([0.5, -2])
    var adam = AdamOptimizer(learningRate: 0.1)
    adam.update([p])
    // First step with bias correction moves each weight by lr * sign(g) (up to epsilon).
    #expect(abs(p.value[0, 0] - 0.9) < 1e-5)
    #expect(abs(p.value[0, 1] - -0.9) < 1e-5)
    #expect(p.grad.toArray() == [0, 0])
    #expect(adam.step == 1)
}

@Test func rowAdagradUpdatesOnlyTouchedRows() {
    var rng = SeededRandom(seed: 8)
    let table = EmbeddingTable(name: "t", rows: 4, dim: 2, initStd: 0, rng: &rng)
    var batch = PooledLookupBatch()
    batch.reset(fields: 1)
    batch.append(row: 2)
    batch.endSlot()
    let g = Matrix(rows: 1, cols: 2, values: [3, 4])
    table.backward(batch, pooling: .sum, outputGrad: g)
    table.adagradUpdate(learningRate: 1, epsilon: 0)
    // acc = (9 + 16) / 2 = 12.5; w = -g / sqrt(12.5)
    let s = Float(12.5).squareRoot()
    #expect(abs(table.table[2, 0] + 3 / s) < 1e-6 && abs(table.table[2, 1] + 4 / s) < 1e-6)
    #expect(table.accumulator.base[2] == 12.5)
    #expect(table.table.toArray().enumerated().allSatisfy { $0.offset / 2 == 2 || $0.element == 0 })
    #expect(table.touchedRows.isEmpty && table.gradient.toArray().allSatisfy { $0 == 0 })
}

@Test func gemmMatchesNaiveProduct() {
    var rng = SeededRandom(seed: 9)
    let a = randomMatrix(3, 4, &rng), b = randomMatrix(5, 4, &rng), c = Matrix(rows: 3, cols: 5)
    gemm(a, .none, b, .transposed, into: c)
    for i in 0..<3 {
        for j in 0..<5 {
            var s: Float = 0
            for k in 0..<4 { s += a[i, k] * b[j, k] }
            #expect(abs(c[i, j] - s) < 1e-5)
        }
    }
}
