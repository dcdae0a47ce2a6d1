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
        groups: SoftmaxGroups, rowCount: Int, grad: UnsafeMutablePointer<Float>?, scale: Float = 1, accumulate: Bool = false
    ) -> Float {
        if let grad, !accumulate { grad.update(repeating: 0, count: rowCount) }
        let liveCount = (0..<groups.count).reduce(0) { $0 + (groups[$1].isEmpty ? 0 : 1) }
        guard liveCount > 0 else { return 0 }
        let inv = 1 / Float(liveCount)
        var total: Double = 0
        var z: [Float] = []
        for index in 0..<groups.count where !groups[index].isEmpty {
            let g = groups[index]
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

/// Candidate groups of a sampled softmax, stored flat: group `g` is
/// `rows[starts[g] ..< starts[g + 1]]` (row indices, the positive first). Clearing keeps the
/// storage, so a training step appends its groups without allocating.
public struct SoftmaxGroups: Sendable, Equatable {
    public private(set) var rows: [Int] = []
    public private(set) var starts: [Int] = [0]

    public init() {}

    /// Groups given as lists of rows.
    public init(_ groups: [[Int]]) {
        for g in groups { append(g) }
    }

    /// The number of groups.
    public var count: Int { starts.count - 1 }
    public var isEmpty: Bool { count == 0 }

    /// The rows of group `g`.
    public subscript(g: Int) -> ArraySlice<Int> { rows[starts[g]..<starts[g + 1]] }

    /// Adds a group.
    public mutating func append(_ group: some Sequence<Int>) {
        rows.append(contentsOf: group)
        starts.append(rows.count)
    }

    /// Adds one row to the group being filled (closed by ``close()``).
    public mutating func appendRow(_ row: Int) { rows.append(row) }

    /// Closes the group being filled by ``appendRow(_:)``.
    public mutating func close() { starts.append(rows.count) }

    /// Removes every group, keeping the storage.
    public mutating func removeAll() {
        rows.removeAll(keepingCapacity: true)
        starts.removeAll(keepingCapacity: true)
        starts.append(0)
    }
}
