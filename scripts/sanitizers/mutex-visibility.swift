// ThreadSanitizer does not see Synchronization.Mutex on Linux (Swift 6.3.1): this program is
// correct (the counter ends at exactly 80000) and yet, built with
//   swiftc -sanitize=thread scripts/sanitizers/mutex-visibility.swift -o /tmp/mutex-visibility
// it reports "Swift access race" inside Mutex.withLock. tsan.supp suppresses those reports for
// the daemon's one Mutex wrapper whose contended use showed them (HSNNCheckpoint's Locked).
import Synchronization
import Dispatch

final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>
    init(_ value: Value) { mutex = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

let counter = Locked<Int>(0)
let dict = Locked<[Int: Int]>([:])
DispatchQueue.concurrentPerform(iterations: 4) { i in
    for k in 0..<20000 {
        let p = counter.withLock { v -> Int in defer { v += 1 }; return v }
        dict.withLock { $0[p % 64] = k + i }
    }
}
print(counter.withLock { $0 })
