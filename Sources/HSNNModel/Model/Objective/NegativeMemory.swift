import HSNNMath

/// The items of the last `capacity` clicks, in a ring: drawing a slot uniformly draws items in
/// proportion to their recent click counts (the popularity-proportional half of the mixed
/// negatives, like in-batch negatives drawn from a window larger than one batch).
struct NegativeMemory: Sendable, Equatable {
    private(set) var items: [Int32]
    /// Next slot to write.
    private(set) var next = 0
    /// Slots written so far (at most the capacity).
    private(set) var filled = 0

    init(capacity: Int) { items = [Int32](repeating: -1, count: max(capacity, 1)) }

    init(items: [Int32], next: Int, filled: Int) {
        self.items = items
        self.next = next
        self.filled = filled
    }

    mutating func push(_ item: Int32) {
        items[next] = item
        next = (next + 1) % items.count
        filled = min(filled + 1, items.count)
    }

    /// A uniformly drawn remembered click (nil while empty).
    func sample(_ rng: inout SeededRandom) -> Int32? {
        guard filled > 0 else { return nil }
        return items[Int(rng.next() % UInt64(filled))]
    }
}
