/// Whether a GEMM operand is used as stored or transposed.
public enum Transpose: Sendable {
    case none
    case transposed
}

/// `C = alpha * op(A) * op(B) + beta * C` on raw row-major buffers (single precision, `cblas_sgemm`).
///
/// `m x k` is the shape of `op(A)`, `k x n` of `op(B)`, `m x n` of `C`; `lda`, `ldb`, `ldc`
/// are the row strides of the stored matrices.
public func sgemm(
    _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        for r in 0..<m {
            for j in 0..<n { c[r * ldc + j] = beta == 0 ? 0 : c[r * ldc + j] * beta }
        }
        return
    }
    OpenBLASBridge.sgemm(
        transposeA: transA == .transposed, transposeB: transB == .transposed, m: m, n: n, k: k,
        alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

/// `C = alpha * op(A) * op(B) + beta * C` on matrices (shapes from the used rows).
public func gemm(_ a: Matrix, _ transA: Transpose, _ b: Matrix, _ transB: Transpose, into c: Matrix,
                 alpha: Float = 1, beta: Float = 0) {
    let m = transA == .none ? a.rows : a.cols
    let k = transA == .none ? a.cols : a.rows
    let kb = transB == .none ? b.rows : b.cols
    let n = transB == .none ? b.cols : b.rows
    precondition(k == kb, "gemm inner dimensions differ: \(k) vs \(kb)")
    precondition(c.rows == m && c.cols == n, "gemm output is \(c.rows)x\(c.cols), expected \(m)x\(n)")
    sgemm(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a.base, lda: a.cols, b: b.base, ldb: b.cols,
          beta: beta, c: c.base, ldc: c.cols)
}

/// Dot product of `n` floats (independent accumulators so the compiler vectorises it).
@inlinable
public func dot(_ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ n: Int) -> Float {
    var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
    var i = 0
    while i + 4 <= n {
        s0 += x[i] * y[i]; s1 += x[i + 1] * y[i + 1]; s2 += x[i + 2] * y[i + 2]; s3 += x[i + 3] * y[i + 3]
        i += 4
    }
    while i < n { s0 += x[i] * y[i]; i += 1 }
    return (s0 + s1) + (s2 + s3)
}

/// `y += a * x` over `n` floats.
@inlinable
public func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    for i in 0..<n { y[i] += a * x[i] }
}
