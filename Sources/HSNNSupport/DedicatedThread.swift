import Foundation

/// Runs blocking work (librdkafka polls, GEMM, file I/O) on a new thread with an 8 MiB stack,
/// off the Swift cooperative pool, and returns its result to the awaiting task.
public func onDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}
