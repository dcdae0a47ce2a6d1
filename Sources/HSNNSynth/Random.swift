import HSNNMath

// Seeded pseudo-random numbers and samplers. Everything in the generator draws from these,
// never from the system generator, so a seed fixes the whole stream on every run.

/// xoshiro256** (Blackman and Vigna): a small, fast generator with a 2^256 - 1 period.
///
/// Independent streams come from distinct `(seed, stream)` pairs, so one part of the
/// generator (say, click draws) never shifts the draws of another (say, the serving policy).
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A generator for sub-stream `stream` of `seed`.
    public init(seed: UInt64, stream: UInt64 = 0) {
        var mix = SeededRandom(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
        s0 = mix.next(); s1 = mix.next(); s2 = mix.next(); s3 = mix.next()
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotl(s3, 45)
        return result
    }

    @inline(__always)
    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 53 random bits.
    @inline(__always)
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform integer in `0 ..< n` (Lemire's multiply-shift; `n` > 0).
    @inline(__always)
    public mutating func below(_ n: Int) -> Int {
        Int(next().multipliedFullWidth(by: UInt64(n)).high)
    }

    /// True with probability `p`.
    @inline(__always)
    public mutating func bernoulli(_ p: Double) -> Bool { uniform() < p }

    /// A standard normal draw (Box-Muller; one of the pair is discarded to keep the state small).
    public mutating func normal() -> Double {
        let u1 = 1.0 - uniform()  // (0, 1]
        let u2 = uniform()
        return (-2.0 * _log(u1)).squareRoot() * _cos(2.0 * Double.pi * u2)
    }

    /// An exponential draw with the given mean.
    public mutating func exponential(mean: Double) -> Double { -mean * _log(1.0 - uniform()) }

    /// A Poisson draw (Knuth's method; fine for the small means used here).
    public mutating func poisson(mean: Double) -> Int {
        guard mean > 0 else { return 0 }
        let limit = _exp(-mean)
        var k = 0
        var p = uniform()
        while p > limit && k < 10_000 {
            k += 1
            p *= uniform()
        }
        return k
    }
}

/// Walker's alias table: O(1) draws from a fixed discrete distribution.
struct AliasTable: Sendable {
    private let probability: [Double]
    private let alias: [Int32]

    /// - Precondition: `weights` is non-empty, non-negative, with a positive sum.
    init(weights: [Double]) {
        let n = weights.count
        precondition(n > 0, "an alias table needs at least one weight")
        let total = weights.reduce(0, +)
        precondition(total > 0, "an alias table needs a positive total weight")
        var scaled = weights.map { $0 * Double(n) / total }
        var prob = [Double](repeating: 1, count: n)
        var alias = [Int32](repeating: 0, count: n)
        var small: [Int] = []
        var large: [Int] = []
        for i in 0..<n {
            if scaled[i] < 1 { small.append(i) } else { large.append(i) }
        }
        while let s = small.popLast() {
            guard let l = large.popLast() else { prob[s] = 1; continue }
            prob[s] = scaled[s]
            alias[s] = Int32(l)
            scaled[l] -= 1 - scaled[s]
            if scaled[l] < 1 { small.append(l) } else { large.append(l) }
        }
        for l in large { prob[l] = 1 }
        probability = prob
        self.alias = alias
    }

    var count: Int { probability.count }

    @inline(__always)
    func sample(_ rng: inout Xoshiro256StarStar) -> Int {
        let i = rng.below(probability.count)
        return rng.uniform() < probability[i] ? i : Int(alias[i])
    }
}

/// Zipf-like weights `1 / (rank + 1)^exponent` for `n` ranks.
func zipfWeights(_ n: Int, exponent: Double) -> [Double] {
    (0..<n).map { 1.0 / _pow(Double($0 + 1), exponent) }
}

/// A Fenwick (binary indexed) tree of non-negative weights: O(log n) update and weighted draw.
///
/// Holds the serving weight of every live item; dead items have weight 0.
struct FenwickSampler {
    private var tree: [Double]
    private var weights: [Double]
    private let topBit: Int

    init(count: Int) {
        tree = [Double](repeating: 0, count: count + 1)
        weights = [Double](repeating: 0, count: count)
        var bit = 1
        while bit <= count { bit <<= 1 }
        topBit = bit >> 1
    }

    var total: Double {
        // Sum of all weights: prefix sum over the whole range.
        var i = weights.count
        var s = 0.0
        while i > 0 {
            s += tree[i]
            i &= i - 1
        }
        return s
    }

    mutating func set(_ index: Int, weight: Double) {
        let delta = weight - weights[index]
        weights[index] = weight
        var i = index + 1
        while i < tree.count {
            tree[i] += delta
            i += i & (-i)
        }
    }

    /// The index whose cumulative weight interval contains `target` (0 <= target < total).
    func find(_ target: Double) -> Int {
        var position = 0
        var remaining = target
        var bit = topBit
        while bit > 0 {
            let next = position + bit
            if next < tree.count && tree[next] <= remaining {
                position = next
                remaining -= tree[next]
            }
            bit >>= 1
        }
        // Guard against rounding drift landing on a zero-weight slot at the end.
        var index = min(position, weights.count - 1)
        while index > 0 && weights[index] == 0 { index -= 1 }
        return index
    }
}

// Elementary functions without pulling Foundation into the hot path.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#elseif canImport(Musl)
import Musl
#endif

@inline(__always) func _log(_ x: Double) -> Double { log(x) }
@inline(__always) func _exp(_ x: Double) -> Double { exp(x) }
@inline(__always) func _cos(_ x: Double) -> Double { cos(x) }
@inline(__always) func _sin(_ x: Double) -> Double { sin(x) }
@inline(__always) func _pow(_ x: Double, _ y: Double) -> Double { pow(x, y) }
@inline(__always) func sigmoid(_ x: Double) -> Double { 1.0 / (1.0 + exp(-x)) }
