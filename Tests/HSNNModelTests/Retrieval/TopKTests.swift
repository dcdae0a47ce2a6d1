import HSNNMath
import Testing
@testable import HSNNModel

/// The top-K selection behind retrieval: the best `k` pairs by score, lower item index first on
/// equal scores, whatever the order of the offers.
@Suite struct TopKTests {
    /// The reference: every pair sorted best first, cut at `k`.
    func reference(_ pairs: [(score: Float, item: Int32)], k: Int) -> [(score: Float, item: Int32)] {
        Array(pairs.sorted { $0.score > $1.score || ($0.score == $1.score && $0.item < $1.item) }.prefix(max(k, 0)))
    }

    @Test(arguments: [0, 1, 3, 10, 64, 200])
    func keepsTheBestPairsWithTiesToTheLowerItem(k: Int) {
        var rng = SeededRandom(seed: 17)
        // Few distinct scores, so ties are frequent; items are distinct as in retrieval.
        var pairs: [(score: Float, item: Int32)] = (0..<150).map { i in (Float(rng.next() % 6) * 0.5, Int32(i)) }
        pairs.append((0, 150))
        pairs.append((-0.0, 151))
        for round in 0..<3 {
            // The same pairs in a different order each round.
            if round > 0 { pairs.shuffle(using: &rng) }
            var top = TopK(k: k)
            for p in pairs { top.offer(p.score, p.item) }
            let got = top.sorted(), want = reference(pairs, k: k)
            #expect(got.map(\.item) == want.map(\.item))
            #expect(got.map(\.score.bitPattern) == want.map(\.score.bitPattern))
        }
    }
}
