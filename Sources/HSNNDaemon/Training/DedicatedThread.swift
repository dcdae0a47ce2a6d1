import Foundation

/// Runs blocking work on a new thread, off the Swift cooperative pool.
func onDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// Moves a non-Sendable value from the thread that made it to the one that will own it.
///
/// @unchecked: the sender never touches the value again after handing it over.
struct OwnershipTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
