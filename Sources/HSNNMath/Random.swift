import Foundation

/// SplitMix64, the project's one small deterministic random number generator: weight
/// initialisation and sampling in the model, test matrices in kernel verification, and the seed
/// expansion of the synthetic stream's generators. Its whole state is one `UInt64`, saved with
/// the model so resumed training draws the same numbers as an uninterrupted run.
public struct SeededRandom: RandomNumberGenerator, Sendable, Hashable, Codable {
    /// The generator state.
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Float { Float(next() >> 40) * 0x1.0p-24 }

    /// Uniform in [-1, 1).
    public mutating func signedUniform() -> Float { Float(next() >> 40) * 0x1.0p-23 - 1 }

    /// Standard normal (Box-Muller).
    public mutating func normal() -> Float {
        let u1 = max(Double(next() >> 11) * 0x1.0p-53, 1e-300)
        let u2 = Double(next() >> 11) * 0x1.0p-53
        return Float((-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2))
    }

    /// Fills the used elements of `matrix` with `normal() * std`.
    public mutating func fillNormal(_ matrix: Matrix, std: Float) {
        for i in 0..<matrix.count { matrix.base[i] = normal() * std }
    }
}
