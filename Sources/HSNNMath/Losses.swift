import Foundation

/// Loss functions with their gradients.
public enum Loss {
    /// Numerically stable `log(1 + exp(x))`.
    @inlinable public static func softplus(_ x: Float) -> Float {
        x > 0 ? x + log1pf(expf(-x)) : log1pf(expf(x))
    }

    /// The logistic function.
    @inlinable public static func sigmoid(_ x: Float) -> Float {
        x >= 0 ? 1 / (1 + expf(-x)) : { let e = expf(x); return e / (1 + e) }()
    }

    /// Weighted binary cross-entropy on logits, averaged over the `n` examples:
    /// `L = (1/n) sum_i w_i * (softplus(z_i) - y_i z_i)`.
    ///
    /// Writes `dL/dz_i = w_i (sigmoid(z_i) - y_i) / n`, times `scale`, into `grad` (added when
    /// `accumulate`), and returns `L` (unscaled).
    @discardableResult
    public static func bceWithLogits(
        logits z: UnsafePointer<Float>, labels y: UnsafePointer<Float>, weights w: UnsafePointer<Float>?, count n: Int,
        grad: UnsafeMutablePointer<Float>?, scale: Float = 1, accumulate: Bool = false
    ) -> Float {
        guard n > 0 else { return 0 }
        var total: Double = 0
        let inv = 1 / Float(n)
        for i in 0..<n {
            let wi = w?[i] ?? 1
            total += Double(wi * (softplus(z[i]) - y[i] * z[i]))
            if let grad {
                let gi = scale * wi * (sigmoid(z[i]) - y[i]) * inv
                grad[i] = accumulate ? grad[i] + gi : gi
            }
        }
        return Float(total) * inv
    }

    /// Mean over rows of the squared L2 distance: `L = (1/rows) sum_r ||a_r - b_r||^2`
    /// (`count = rows * width` elements). Writes `dL/da` times `scale` into `grad` (added when
    /// `accumulate`); `b` is a constant target.
    @discardableResult
    public static func mse(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, width: Int,
        grad: UnsafeMutablePointer<Float>?, scale: Float = 1, accumulate: Bool = false
    ) -> Float {
        guard rows > 0 else { return 0 }
        var total: Double = 0
        let inv = 1 / Float(rows)
        for i in 0..<(rows * width) {
            let d = a[i] - b[i]
            total += Double(d * d)
            if let grad {
                let gi = scale * 2 * d * inv
                grad[i] = accumulate ? grad[i] + gi : gi
            }
        }
        return Float(total) * inv
    }

    /// Sampled softmax cross-entropy with a sampling-bias (log-Q) correction, averaged over
    /// groups. Group `g` holds candidate rows `rows[g]` (row indices into `logits`); its first
    /// candidate is the positive. The corrected logit of a candidate is `s_c - logQ_c`, with
    /// `logQ_c` the log of the candidate's expected count under the sampling distribution, and
    ///
    /// `L = (1/G) sum_g [ -z_{g,0} + log sum_{c in g} exp(z_{g,c}) ]`, `z = s - logQ`.
    ///
    /// Candidates with `masked[c]` (a sampled negative that is the positive itself) are left out
    /// of the sum. Writes `dL/ds_c = (softmax_c - [c is the positive]) / G`, times `scale`, into
    /// `grad` (added when `accumulate`; rows outside every group are left untouched unless
    /// `accumulate` is false, when they are zeroed) and returns `L` (unscaled).
    @discardableResult
    public static func sampledSoftmax(
        logits s: UnsafePointer<Float>, logQ: UnsafePointer<Float>, masked: UnsafePointer<Bool>?,
        groups: [[Int]], rowCount: Int, grad: UnsafeMutablePointer<Float>?, scale: Float = 1, accumulate: Bool = false
    ) -> Float {
        if let grad, !accumulate { grad.update(repeating: 0, count: rowCount) }
        let live = groups.filter { !$0.isEmpty }
        guard !live.isEmpty else { return 0 }
        let inv = 1 / Float(live.count)
        var total: Double = 0
        var z: [Float] = []
        for g in live {
            z.removeAll(keepingCapacity: true)
            var m = -Float.infinity
            for r in g {
                let v = (masked?[r] ?? false) ? -Float.infinity : s[r] - logQ[r]
                z.append(v)
                m = max(m, v)
            }
            var sum: Float = 0
            for v in z where v > -Float.infinity { sum += expf(v - m) }
            let lse = m + logf(sum)
            total += Double(lse - z[0])
            if let grad {
                for (c, r) in g.enumerated() {
                    let p = z[c] > -Float.infinity ? expf(z[c] - lse) : 0
                    grad[r] += scale * inv * (p - (c == 0 ? 1 : 0))
                }
            }
        }
        return Float(total) * inv
    }
}
