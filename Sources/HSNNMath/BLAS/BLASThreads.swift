/// Control over OpenBLAS's worker threads.
///
/// The setting is process-wide. Change it before GEMM work starts, not while
/// other threads are inside BLAS calls.
public enum BLASThreads {
    /// Threads OpenBLAS uses for one call (its default is the number of
    /// processors, or `OPENBLAS_NUM_THREADS` when set).
    public static var count: Int { OpenBLASBridge.threadCount }

    /// Processors OpenBLAS detected.
    public static var processorCount: Int { OpenBLASBridge.processorCount }

    /// Sets the number of threads OpenBLAS uses per call.
    ///
    /// OpenBLAS caps the count at the limit it was built with (64 for Debian's
    /// build); the returned value is the count actually in effect.
    /// - Throws: ``BLASError`` with ``BLASError/Code/invalidThreadCount(_:)``
    ///   when `count` is below 1.
    @discardableResult
    public static func set(_ count: Int) throws -> Int {
        guard count >= 1 else { throw BLASError(.invalidThreadCount(count)) }
        OpenBLASBridge.setThreadCount(count)
        return OpenBLASBridge.threadCount
    }
}
