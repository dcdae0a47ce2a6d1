/// A row-major matrix of `Float` over an owned, contiguous buffer.
///
/// The buffer is allocated once for `capacityRows x cols` elements; `rows` may be lowered
/// (down to 0) to run a smaller batch through preallocated workspaces without reallocating.
/// The class is a reference type on purpose: layers keep their weights, gradients and
/// activations in matrices that hot loops update in place with no copy-on-write or ARC traffic
/// per element. Not thread-safe; copy with ``copy()`` or ``toArray()`` to hand data to another thread.
public final class Matrix {
    /// Rows in use (at most ``capacityRows``).
    public var rows: Int {
        didSet { precondition(rows >= 0 && rows <= capacityRows, "rows \(rows) exceed the capacity \(capacityRows)") }
    }
    /// Columns (the row stride: rows are contiguous, `cols` floats apart).
    public let cols: Int
    /// Rows the buffer can hold.
    public let capacityRows: Int
    /// The first element; element `(r, c)` is at `base[r * cols + c]`.
    public let base: UnsafeMutablePointer<Float>

    /// A zero-filled `rows x cols` matrix.
    public init(rows: Int, cols: Int) {
        precondition(rows >= 0 && cols >= 0, "matrix dimensions must not be negative")
        self.rows = rows
        self.cols = cols
        capacityRows = rows
        let count = max(rows * cols, 1)
        base = .allocate(capacity: count)
        base.initialize(repeating: 0, count: count)
    }

    /// A `rows x cols` matrix holding `values` (row-major, `rows * cols` of them).
    public convenience init(rows: Int, cols: Int, values: [Float]) {
        precondition(values.count == rows * cols, "expected \(rows * cols) values, got \(values.count)")
        self.init(rows: rows, cols: cols)
        values.withUnsafeBufferPointer { if let p = $0.baseAddress { base.update(from: p, count: values.count) } }
    }

    deinit { base.deallocate() }

    /// Elements in use (`rows * cols`).
    @inlinable public var count: Int { rows * cols }

    /// Element `(r, c)`.
    @inlinable public subscript(r: Int, c: Int) -> Float {
        get { base[r * cols + c] }
        set { base[r * cols + c] = newValue }
    }

    /// The start of row `r`.
    @inlinable public func row(_ r: Int) -> UnsafeMutablePointer<Float> { base + r * cols }

    /// Sets the used elements to zero.
    @inlinable public func zero() { base.update(repeating: 0, count: count) }

    /// The used elements as an array (row-major).
    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: base, count: count)) }

    /// Overwrites the used elements with `values` (`count` of them).
    public func load(_ values: [Float]) {
        precondition(values.count == count, "expected \(count) values, got \(values.count)")
        values.withUnsafeBufferPointer { if let p = $0.baseAddress { base.update(from: p, count: count) } }
    }

    /// Copies the used elements of `other` (same shape).
    public func copy(from other: Matrix) {
        precondition(other.rows == rows && other.cols == cols, "shape mismatch in copy")
        base.update(from: other.base, count: count)
    }

    /// A deep copy of the used rows.
    public func copy() -> Matrix {
        let m = Matrix(rows: rows, cols: cols)
        m.base.update(from: base, count: count)
        return m
    }
}
