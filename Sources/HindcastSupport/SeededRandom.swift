/// A small, fast, seedable random generator (xoshiro256**) whose whole state is four words, so it
/// can be saved in a checkpoint and restored exactly.
///
/// Not thread-safe: each user owns its generator. Never use `SystemRandomNumberGenerator` for
/// anything that must be reproducible; derive a generator from a seed with `SeedDerivation`.
public struct SeededRandom: RandomNumberGenerator, Codable, Sendable, Equatable {
  public private(set) var state: [UInt64]

  /// Seeds the four state words from one 64-bit seed with SplitMix64, as the xoshiro authors
  /// recommend.
  public init(seed: UInt64) {
    var mixer = SplitMix64(state: seed)
    state = (0..<4).map { _ in mixer.next() }
    if state.allSatisfy({ $0 == 0 }) { state[0] = 1 }
  }

  /// Restores a generator from a saved state. Returns nil if the state is malformed.
  public init?(state: [UInt64]) {
    guard state.count == 4, !state.allSatisfy({ $0 == 0 }) else { return nil }
    self.state = state
  }

  @inline(__always)
  private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

  public mutating func next() -> UInt64 {
    let result = Self.rotl(state[1] &* 5, 7) &* 9
    let t = state[1] << 17
    state[2] ^= state[0]
    state[3] ^= state[1]
    state[1] ^= state[2]
    state[0] ^= state[3]
    state[2] ^= t
    state[3] = Self.rotl(state[3], 45)
    return result
  }

  /// A uniform float in [0, 1) with 24 bits of randomness.
  public mutating func nextUnitFloat() -> Float {
    Float(next() >> 40) * (1.0 / 16_777_216.0)
  }

  /// A uniform double in [0, 1) with 53 bits of randomness.
  public mutating func nextUnitDouble() -> Double {
    Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
  }

  /// A standard normal sample (Box-Muller; one of the pair is discarded for simplicity).
  public mutating func nextGaussian() -> Float {
    var u1 = nextUnitDouble()
    if u1 < 1e-300 { u1 = 1e-300 }
    let u2 = nextUnitDouble()
    return Float((-2.0 * _log(u1)).squareRoot() * _cos(2.0 * Double.pi * u2))
  }

  /// A uniform integer in `0..<bound` without modulo bias. `bound` must be positive.
  public mutating func nextInt(below bound: Int) -> Int {
    Int(truncatingIfNeeded: next(upperBound: UInt64(bound)))
  }
}

/// SplitMix64: used to expand seeds and to mix several numbers into one seed.
public struct SplitMix64: Sendable {
  public var state: UInt64
  public init(state: UInt64) { self.state = state }
  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// Derives independent, reproducible seeds from a run seed and a path of labels, for example
/// `(runSeed, round, stage, shard)`. The same inputs always give the same seed, on every machine
/// and in every process (unlike Swift's `Hasher`, which is randomized per process).
public enum SeedDerivation {
  public static func derive(_ seed: UInt64, _ parts: [UInt64]) -> UInt64 {
    var mixer = SplitMix64(state: seed)
    var value = mixer.next()
    for part in parts {
      mixer = SplitMix64(state: value ^ (part &* 0xD6E8_FEB8_6659_FD93))
      value = mixer.next()
    }
    return value
  }

  /// Derives a seed from labels that are strings (stage names) or numbers.
  public static func derive(_ seed: UInt64, labels: [String]) -> UInt64 {
    derive(seed, labels.map { StableHash.fnv1a64($0) })
  }
}

#if canImport(Glibc)
  import Glibc
  @inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
  @inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
  import Foundation
  @inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
  @inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
#endif
