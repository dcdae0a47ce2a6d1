/// Moves a non-Sendable value from the thread that made it to the one that will own it.
///
/// @unchecked: the sender never touches the value again after handing it over.
struct OwnershipTransfer<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
