import Foundation

/// How the values of one multi-valued feature are combined into one vector.
public enum Pooling: String, Sendable, Hashable, Codable {
    case sum
    case mean
}

/// A batch of pooled lookups: for each example and each field, a list of table rows.
///
/// Stored in compressed form (row indices in one flat array, with an offset per (example, field)
/// slot) and reused across batches: ``reset(fields:)`` keeps the capacity.
public struct PooledLookupBatch: Sendable {
    /// Fields per example.
    public var fields: Int = 0
    /// Row indices of every slot, slot after slot.
    public var rowIndices: [Int32] = []
    /// `slotStart[s] ..< slotStart[s + 1]` are the rows of slot `s = example * fields + field`.
    public var slotStart: [Int32] = [0]

    public init() {}

    /// Empties the batch (keeping its storage) for examples with `fields` fields each.
    public mutating func reset(fields: Int) {
        self.fields = fields
        rowIndices.removeAll(keepingCapacity: true)
        slotStart.removeAll(keepingCapacity: true)
        slotStart.append(0)
    }

    /// Adds a row to the slot being filled.
    @inlinable public mutating func append(row: Int32) { rowIndices.append(row) }

    /// Closes the slot being filled; call exactly `fields` times per example.
    @inlinable public mutating func endSlot() { slotStart.append(Int32(rowIndices.count)) }

    /// Examples completed so far.
    public var examples: Int { fields == 0 ? 0 : (slotStart.count - 1) / fields }
}

/// A hashed embedding table (`rows x dim`) with pooled multi-valued lookups, sparse row
/// gradients and row-wise Adagrad.
///
/// Gradients accumulate into a dense buffer, but only the touched rows are updated and
/// cleared, in the order they were first touched, so an update costs O(touched rows x dim)
/// and is deterministic.
public final class EmbeddingTable {
    public let name: String
    public let table: Matrix
    /// Row-wise Adagrad accumulator (one per row).
    public let accumulator: Matrix
    public let gradient: Matrix
    public var dim: Int { table.cols }
    public var rowCount: Int { table.rows }
    private var touched: [Int32] = []
    private var isTouched: [Bool]

    /// A table initialised with `normal * initStd`.
    public init(name: String, rows: Int, dim: Int, initStd: Float, rng: inout SeededRandom) {
        self.name = name
        table = Matrix(rows: rows, cols: dim)
        rng.fillNormal(table, std: initStd)
        accumulator = Matrix(rows: rows, cols: 1)
        gradient = Matrix(rows: rows, cols: dim)
        isTouched = [Bool](repeating: false, count: rows)
    }

    /// Writes the pooled vectors of every slot into `output` (`examples x fields*dim`), field
    /// after field in each row. Empty slots give zero vectors.
    public func forward(_ batch: PooledLookupBatch, pooling: Pooling, into output: Matrix, columnOffset: Int = 0) {
        let d = dim, f = batch.fields
        output.rows = batch.examples
        precondition(columnOffset + f * d <= output.cols, "pooled lookup does not fit the output")
        batch.rowIndices.withUnsafeBufferPointer { idx in
            batch.slotStart.withUnsafeBufferPointer { start in
                for e in 0..<batch.examples {
                    for field in 0..<f {
                        let s = e * f + field
                        let out = output.row(e) + columnOffset + field * d
                        out.update(repeating: 0, count: d)
                        let lo = Int(start[s]), hi = Int(start[s + 1])
                        if lo == hi { continue }
                        for k in lo..<hi { axpy(1, table.row(Int(idx[k])), out, d) }
                        if pooling == .mean && hi - lo > 1 {
                            let scale = 1 / Float(hi - lo)
                            for j in 0..<d { out[j] *= scale }
                        }
                    }
                }
            }
        }
    }

    /// Accumulates the row gradients of a ``forward`` whose output gradient is `outputGrad`.
    public func backward(_ batch: PooledLookupBatch, pooling: Pooling, outputGrad: Matrix, columnOffset: Int = 0) {
        let d = dim, f = batch.fields
        batch.rowIndices.withUnsafeBufferPointer { idx in
            batch.slotStart.withUnsafeBufferPointer { start in
                for e in 0..<batch.examples {
                    for field in 0..<f {
                        let s = e * f + field
                        let lo = Int(start[s]), hi = Int(start[s + 1])
                        if lo == hi { continue }
                        let g = outputGrad.row(e) + columnOffset + field * d
                        let scale: Float = pooling == .mean ? 1 / Float(hi - lo) : 1
                        for k in lo..<hi {
                            let r = Int(idx[k])
                            if !isTouched[r] { isTouched[r] = true; touched.append(Int32(r)) }
                            axpy(scale, g, gradient.row(r), d)
                        }
                    }
                }
            }
        }
    }

    /// Rows with a pending gradient, in first-touch order.
    public var touchedRows: [Int32] { touched }

    /// Row-wise Adagrad on the touched rows: `acc += mean(g^2)`, `w -= lr * g / (sqrt(acc) + eps)`;
    /// then clears their gradients.
    public func adagradUpdate(learningRate: Float, epsilon: Float = 1e-8) {
        let d = dim
        for r32 in touched {
            let r = Int(r32)
            let g = gradient.row(r), w = table.row(r)
            var sq: Float = 0
            for j in 0..<d { sq += g[j] * g[j] }
            let acc = accumulator.base[r] + sq / Float(d)
            accumulator.base[r] = acc
            let step = learningRate / (acc.squareRoot() + epsilon)
            for j in 0..<d { w[j] -= step * g[j]; g[j] = 0 }
            isTouched[r] = false
        }
        touched.removeAll(keepingCapacity: true)
    }

    /// Drops pending gradients without updating.
    public func clearGradient() {
        for r in touched { gradient.row(Int(r)).update(repeating: 0, count: dim); isTouched[Int(r)] = false }
        touched.removeAll(keepingCapacity: true)
    }
}
