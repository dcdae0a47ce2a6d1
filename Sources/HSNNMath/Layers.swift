import Foundation

/// A fully connected layer `y = x W + b` (`W` is `inputs x outputs`, row-major).
public final class Linear {
    public let weight: DenseParameter
    public let bias: DenseParameter
    public var inputs: Int { weight.value.rows }
    public var outputs: Int { weight.value.cols }

    /// A layer with He-normal weights (`std = gain * sqrt(2 / inputs)`) and zero bias.
    public init(name: String, inputs: Int, outputs: Int, gain: Float = 1, rng: inout SeededRandom) {
        weight = DenseParameter(name: name + ".weight", rows: inputs, cols: outputs)
        bias = DenseParameter(name: name + ".bias", rows: 1, cols: outputs)
        rng.fillNormal(weight.value, std: gain * (2 / Float(max(inputs, 1))).squareRoot())
    }

    public var parameters: [DenseParameter] { [weight, bias] }

    /// `y = x W + b` for the used rows of `x` (`y.rows` is set to `x.rows`).
    public func forward(_ x: Matrix, into y: Matrix) {
        precondition(x.cols == inputs && y.cols == outputs, "linear layer shape mismatch")
        y.rows = x.rows
        let n = outputs, b = bias.value.base
        for r in 0..<x.rows { (y.base + r * n).update(from: b, count: n) }
        sgemm(.none, .none, m: x.rows, n: n, k: inputs, a: x.base, lda: x.cols, b: weight.value.base, ldb: n,
              beta: 1, c: y.base, ldc: n)
    }

    /// Accumulates `dW += x^T dy`, `db += sum_rows dy`, and writes `dx = dy W^T` when `dx` is given.
    public func backward(input x: Matrix, outputGrad dy: Matrix, inputGrad dx: Matrix?) {
        let rows = x.rows, n = outputs
        sgemm(.transposed, .none, m: inputs, n: n, k: rows, a: x.base, lda: x.cols, b: dy.base, ldb: n,
              beta: 1, c: weight.grad.base, ldc: n)
        let db = bias.grad.base
        for r in 0..<rows {
            let g = dy.base + r * n
            for j in 0..<n { db[j] += g[j] }
        }
        if let dx {
            dx.rows = rows
            sgemm(.none, .transposed, m: rows, n: inputs, k: n, a: dy.base, lda: n, b: weight.value.base, ldb: n,
                  beta: 0, c: dx.base, ldc: dx.cols)
        }
    }
}

/// Rectified linear unit, applied in place.
public enum ReLU {
    /// `x = max(x, 0)` over the used elements.
    public static func forward(_ x: Matrix) {
        let p = x.base
        for i in 0..<x.count { p[i] = max(p[i], 0) }
    }

    /// `dy *= (y > 0)` where `y` is the forward output.
    public static func backward(output y: Matrix, grad dy: Matrix) {
        let o = y.base, g = dy.base
        for i in 0..<y.count where o[i] <= 0 { g[i] = 0 }
    }
}

/// Layer normalisation over each row: `y = (x - mean) / sqrt(var + eps) * gamma + beta`.
public final class LayerNorm {
    public let gamma: DenseParameter
    public let beta: DenseParameter
    public let epsilon: Float
    public var width: Int { gamma.value.cols }

    public init(name: String, width: Int, epsilon: Float = 1e-5) {
        gamma = DenseParameter(name: name + ".gamma", rows: 1, cols: width)
        beta = DenseParameter(name: name + ".beta", rows: 1, cols: width)
        gamma.value.base.update(repeating: 1, count: width)
        self.epsilon = epsilon
    }

    public var parameters: [DenseParameter] { [gamma, beta] }

    /// Normalises `x` into `y`; keeps the normalised values in `xhat` and `1/std` per row in `invStd`
    /// (both `x.rows` long) for ``backward``.
    public func forward(_ x: Matrix, into y: Matrix, xhat: Matrix, invStd: Matrix) {
        let n = width
        y.rows = x.rows; xhat.rows = x.rows; invStd.rows = x.rows
        let g = gamma.value.base, b = beta.value.base
        for r in 0..<x.rows {
            let xr = x.row(r), hr = xhat.row(r), yr = y.row(r)
            var mean: Float = 0
            for j in 0..<n { mean += xr[j] }
            mean /= Float(n)
            var variance: Float = 0
            for j in 0..<n { let d = xr[j] - mean; variance += d * d }
            variance /= Float(n)
            let inv = 1 / (variance + epsilon).squareRoot()
            invStd.base[r] = inv
            for j in 0..<n {
                let h = (xr[j] - mean) * inv
                hr[j] = h
                yr[j] = h * g[j] + b[j]
            }
        }
    }

    /// Accumulates the parameter gradients and writes `dx` (may alias `dy`).
    public func backward(outputGrad dy: Matrix, xhat: Matrix, invStd: Matrix, inputGrad dx: Matrix) {
        let n = width, fn = Float(width)
        let g = gamma.value.base, dg = gamma.grad.base, db = beta.grad.base
        dx.rows = dy.rows
        for r in 0..<dy.rows {
            let gy = dy.row(r), h = xhat.row(r), gx = dx.row(r)
            var sumG: Float = 0, sumGH: Float = 0
            for j in 0..<n {
                dg[j] += gy[j] * h[j]
                db[j] += gy[j]
                let gh = gy[j] * g[j]
                sumG += gh
                sumGH += gh * h[j]
            }
            let inv = invStd.base[r]
            for j in 0..<n {
                let gh = gy[j] * g[j]
                gx[j] = inv / fn * (fn * gh - sumG - h[j] * sumGH)
            }
        }
    }
}

/// A multi-layer perceptron: Linear (+ LayerNorm) + ReLU on every hidden layer, a plain Linear at the end.
public final class MLP {
    public let layers: [Linear]
    public let norms: [LayerNorm]
    public let useLayerNorm: Bool
    public var inputs: Int { layers[0].inputs }
    public var outputs: Int { layers[layers.count - 1].outputs }

    /// - Parameters:
    ///   - sizes: `[inputs, hidden..., outputs]`.
    ///   - finalGain: scale of the last layer's initial weights (small keeps initial logits near 0).
    public init(name: String, sizes: [Int], layerNorm: Bool = false, finalGain: Float = 1, rng: inout SeededRandom) {
        precondition(sizes.count >= 2, "an MLP needs at least an input and an output size")
        var layers: [Linear] = []
        var norms: [LayerNorm] = []
        for i in 0..<(sizes.count - 1) {
            let last = i == sizes.count - 2
            layers.append(Linear(name: "\(name).\(i)", inputs: sizes[i], outputs: sizes[i + 1],
                                 gain: last ? finalGain : 1, rng: &rng))
            if layerNorm && !last { norms.append(LayerNorm(name: "\(name).\(i).norm", width: sizes[i + 1])) }
        }
        self.layers = layers
        self.norms = norms
        useLayerNorm = layerNorm
    }

    public var parameters: [DenseParameter] { layers.flatMap(\.parameters) + norms.flatMap(\.parameters) }

    /// Activation buffers for batches of up to `capacity` rows.
    public func makeWorkspace(capacity: Int) -> MLPWorkspace { MLPWorkspace(mlp: self, capacity: capacity) }

    /// Runs the network on the used rows of `x`; returns the output matrix (owned by `ws`).
    @discardableResult
    public func forward(_ x: Matrix, _ ws: MLPWorkspace) -> Matrix {
        var input = x
        for (i, layer) in layers.enumerated() {
            let last = i == layers.count - 1
            if useLayerNorm && !last {
                layer.forward(input, into: ws.pre[i])
                norms[i].forward(ws.pre[i], into: ws.outputs[i], xhat: ws.xhat[i], invStd: ws.invStd[i])
            } else {
                layer.forward(input, into: ws.outputs[i])
            }
            if !last { ReLU.forward(ws.outputs[i]) }
            input = ws.outputs[i]
        }
        return ws.outputs[layers.count - 1]
    }

    /// Back-propagates `dy` (the gradient of the output, overwritten) through the network run last
    /// on `x` with `ws`; accumulates parameter gradients and writes `dx` when given.
    public func backward(input x: Matrix, outputGrad dy: Matrix, _ ws: MLPWorkspace, inputGrad dx: Matrix?) {
        var grad = dy
        for i in stride(from: layers.count - 1, through: 0, by: -1) {
            let last = i == layers.count - 1
            if !last {
                ReLU.backward(output: ws.outputs[i], grad: grad)
                if useLayerNorm { norms[i].backward(outputGrad: grad, xhat: ws.xhat[i], invStd: ws.invStd[i], inputGrad: grad) }
            }
            let input = i == 0 ? x : ws.outputs[i - 1]
            let target: Matrix? = i == 0 ? dx : ws.grads[i - 1]
            layers[i].backward(input: input, outputGrad: grad, inputGrad: target)
            if i > 0 { grad = ws.grads[i - 1] }
        }
    }
}

/// Preallocated activations and gradients of one ``MLP`` for batches up to a capacity.
public final class MLPWorkspace {
    public let capacity: Int
    let outputs: [Matrix]
    let grads: [Matrix]
    let pre: [Matrix]
    let xhat: [Matrix]
    let invStd: [Matrix]

    init(mlp: MLP, capacity: Int) {
        self.capacity = capacity
        outputs = mlp.layers.map { Matrix(rows: capacity, cols: $0.outputs) }
        grads = mlp.layers.map { Matrix(rows: capacity, cols: $0.outputs) }
        let ln = mlp.useLayerNorm
        pre = mlp.layers.map { Matrix(rows: ln ? capacity : 0, cols: $0.outputs) }
        xhat = mlp.layers.map { Matrix(rows: ln ? capacity : 0, cols: $0.outputs) }
        invStd = mlp.layers.map { _ in Matrix(rows: ln ? capacity : 0, cols: 1) }
    }

    /// The output of the last forward pass.
    public var output: Matrix { outputs[outputs.count - 1] }
}
