import CHindcastSIMD

#if canImport(Glibc)
  import Glibc
#endif

/// Rotary position embeddings (RoPE, Su et al. 2021) on a fused QKV buffer.
///
/// Each head's query and key vectors (width D, even) are split into two halves; pair
/// `(x[i], x[i + D/2])` at position `pos` is rotated by the angle `pos * base^(-2i/D)`:
///
///     x'[i]       = x[i] cos a - x[i + D/2] sin a
///     x'[i + D/2] = x[i] sin a + x[i + D/2] cos a
///
/// (the "half split" pairing of GPT-NeoX). The dot product of a rotated query at position m and a
/// rotated key at n then depends on m - n only. Values are not rotated.
///
/// The backward pass of a rotation is the rotation by the opposite angle (the transpose of an
/// orthogonal matrix), so gradients with respect to the unrotated q and k are obtained by
/// rotating the incoming gradients with `inverse: true`.
public struct RotaryTable: Sendable {
  /// The frequency base of the angles.
  public static let base = 10_000.0
  /// Positions covered (0..<positions).
  public let positions: Int
  /// Half the head width (the number of rotated pairs per head).
  public let half: Int
  /// cos and sin of every angle, `(positions, half)` each. Computed in double precision and
  /// rounded once, so the table is the same on every machine with a correctly rounded libm.
  public let cosines: [Float]
  public let sines: [Float]

  public init(positions: Int, headWidth: Int) {
    self.positions = max(0, positions)
    half = headWidth / 2
    var cosines = [Float](repeating: 0, count: self.positions * half)
    var sines = cosines
    for pos in 0..<self.positions {
      for i in 0..<half {
        let frequency = pow(Self.base, -2.0 * Double(i) / Double(headWidth))
        let angle = Double(pos) * frequency
        cosines[pos * half + i] = Float(cos(angle))
        sines[pos * half + i] = Float(sin(angle))
      }
    }
    self.cosines = cosines
    self.sines = sines
  }

  /// Rotates, for every row r, the query and key parts of every head of `qkv + r * rowStride`
  /// (layout of `Attention`: queries at columns 0..<C, keys at C..<2C) by the angles of position
  /// `positions[r]`; by the opposite angles when `inverse`. Positions must be in `0..<positions`.
  public func apply(
    qkv: UnsafeMutablePointer<Float>, rowStride: Int, positions rowPositions: UnsafePointer<Int32>, rows: Int,
    width: Int, heads: Int, inverse: Bool = false
  ) {
    let d = width / heads
    cosines.withUnsafeBufferPointer { cosBuffer in
      sines.withUnsafeBufferPointer { sinBuffer in
        for r in 0..<rows {
          let pos = Int(rowPositions[r])
          let cs = cosBuffer.baseAddress! + pos * half
          let sn = sinBuffer.baseAddress! + pos * half
          let row = qkv + r * rowStride
          for part in 0..<2 {
            for h in 0..<heads {
              Self.rotate(row + part * width + h * d, cos: cs, sin: sn, half: half, inverse: inverse)
            }
          }
        }
      }
    }
  }

  /// Rotates one head vector `x (2 * half)` by the angles `cos`/`sin (half)`. Dispatched
  /// (`SIMDPath`); equals `KernelReference.rotate` bit for bit.
  @inline(__always)
  public static func rotate(
    _ x: UnsafeMutablePointer<Float>, cos cs: UnsafePointer<Float>, sin sn: UnsafePointer<Float>, half: Int,
    inverse: Bool
  ) {
    hc_rotate(x, cs, sn, Int64(half), inverse ? 1 : 0)
  }
}
