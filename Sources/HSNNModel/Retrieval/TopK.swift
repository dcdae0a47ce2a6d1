import HeapModule

/// A fixed-size selection of the best `k` (score, item) pairs.
///
/// Pairs rank by score; on equal scores the lower item index ranks higher. Offered items are
/// distinct, so the selection and its order do not depend on the order of the offers, which
/// makes results deterministic.
struct TopK {
    /// A candidate; `a < b` when `a` ranks below `b`.
    struct Entry: Comparable {
        var score: Float
        var item: Int32

        @inline(__always) static func < (a: Entry, b: Entry) -> Bool {
            a.score < b.score || (a.score == b.score && a.item > b.item)
        }
    }

    let k: Int
    /// The kept pairs; its minimum is the first to give way to a better offer.
    private var heap = Heap<Entry>()

    init(k: Int) {
        self.k = k
        heap.reserveCapacity(k)
    }

    @inline(__always) mutating func offer(_ score: Float, _ item: Int32) {
        let entry = Entry(score: score, item: item)
        if heap.count < k {
            heap.insert(entry)
        } else if k > 0, let worst = heap.min, worst < entry {
            heap.replaceMin(with: entry)
        }
    }

    /// The kept pairs, best first.
    func sorted() -> [(score: Float, item: Int32)] {
        heap.unordered
            .sorted { $0.score > $1.score || ($0.score == $1.score && $0.item < $1.item) }
            .map { ($0.score, $0.item) }
    }
}
