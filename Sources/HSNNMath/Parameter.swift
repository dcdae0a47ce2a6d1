/// A dense trainable tensor: its value, the gradient accumulated since the last update, and the
/// Adam moments. Stored as matrices so layers read and write them in place.
public final class DenseParameter {
    /// Name used in saved state (`tower.user.0.weight`).
    public let name: String
    public let value: Matrix
    public let grad: Matrix
    /// Adam first moment.
    public let m: Matrix
    /// Adam second moment.
    public let v: Matrix

    public init(name: String, rows: Int, cols: Int) {
        self.name = name
        value = Matrix(rows: rows, cols: cols)
        grad = Matrix(rows: rows, cols: cols)
        m = Matrix(rows: rows, cols: cols)
        v = Matrix(rows: rows, cols: cols)
    }

    /// Element count.
    public var count: Int { value.count }
}

/// Adam for dense weights (Kingma & Ba), with bias correction and optional decoupled clipping
/// of each gradient element to `[-clip, clip]`.
public struct AdamOptimizer: Sendable, Hashable, Codable {
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    /// Gradient elements are clipped to this magnitude (0 disables clipping).
    public var clip: Float
    /// Updates applied so far (for bias correction; saved with the model).
    public var step: Int64 = 0

    public init(learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, clip: Float = 0) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.clip = clip
    }

    /// Applies one Adam step to every parameter and zeroes their gradients; `scales[i]`, when
    /// given, multiplies the learning rate of `parameters[i]`.
    public mutating func update(_ parameters: [DenseParameter], scales: [Float]? = nil) {
        step += 1
        let t = Float(step)
        let c1 = 1 - powf(beta1, t)
        let c2 = 1 - powf(beta2, t)
        let baseLR = learningRate * c2.squareRoot() / c1
        let b1 = beta1, b2 = beta2, eps = epsilon * c2.squareRoot(), clip = clip
        for (k, p) in parameters.enumerated() {
            let lr = baseLR * (scales?[k] ?? 1)
            let n = p.count
            let w = p.value.base, g = p.grad.base, m = p.m.base, v = p.v.base
            for i in 0..<n {
                var gi = g[i]
                if clip > 0 { gi = min(max(gi, -clip), clip) }
                let mi = b1 * m[i] + (1 - b1) * gi
                let vi = b2 * v[i] + (1 - b2) * gi * gi
                m[i] = mi
                v[i] = vi
                w[i] -= lr * mi / (vi.squareRoot() + eps)
                g[i] = 0
            }
        }
    }
}

@usableFromInline func powf(_ x: Float, _ y: Float) -> Float { Float(pow(Double(x), Double(y))) }

import Foundation
