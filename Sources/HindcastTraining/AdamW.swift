import Dispatch
import HindcastModel
import HindcastSupport

/// Hyperparameters of AdamW that stay fixed during a run (the learning rate comes from a
/// `LearningRateSchedule` at each step). Codable with explicit keys for `state.json`.
public struct AdamWConfig: Codable, Sendable, Equatable {
  /// Decay rate of the first moment, in [0, 1).
  public var beta1: Float
  /// Decay rate of the second moment, in [0, 1).
  public var beta2: Float
  /// Added to the root of the second moment, in (0, 1].
  public var epsilon: Float
  /// Decoupled weight decay per unit of learning rate, in [0, 10]; applied only to the
  /// entries of the layout that are decayed (`ParameterLayout.Entry.isDecayed`).
  public var weightDecay: Float

  enum CodingKeys: String, CodingKey {
    case beta1 = "beta1"
    case beta2 = "beta2"
    case epsilon
    case weightDecay = "weight_decay"
  }

  public init(beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8, weightDecay: Float = 0.1) {
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.weightDecay = weightDecay
  }

  /// Rejects values outside the ranges above, naming the field; `source` is the error location.
  public func validate(source: String? = nil) throws {
    try requireField(beta1 >= 0 && beta1 < 1, "beta1", "in [0, 1); got \(beta1)", source)
    try requireField(beta2 >= 0 && beta2 < 1, "beta2", "in [0, 1); got \(beta2)", source)
    try requireField(epsilon > 0 && epsilon <= 1, "epsilon", "in (0, 1]; got \(epsilon)", source)
    try requireField(
      weightDecay >= 0 && weightDecay <= 10, "weight_decay", "in [0, 10]; got \(weightDecay)", source)
  }
}

/// The state of AdamW: first and second moments in the parameter layout, and the number of
/// updates made so far (bias correction uses it).
public struct AdamWState: Sendable, Equatable {
  /// First moment, one value per parameter.
  public var m: [Float]
  /// Second moment, one value per parameter.
  public var v: [Float]
  /// Number of updates applied (0 before the first).
  public var step: Int

  /// Zero moments for `parameterCount` parameters.
  public init(parameterCount: Int) {
    m = [Float](repeating: 0, count: parameterCount)
    v = [Float](repeating: 0, count: parameterCount)
    step = 0
  }

  public init(m: [Float], v: [Float], step: Int) {
    self.m = m
    self.v = v
    self.step = step
  }
}

/// AdamW with bias correction and decoupled weight decay, as in PyTorch's `torch.optim.AdamW`:
///
///     m = b1 m + (1 - b1) g            v = b2 v + (1 - b2) g^2
///     p -= lr * ( m / (1 - b1^t) / (sqrt(v / (1 - b2^t)) + eps)  +  wd * p )   (wd only if decayed)
///
/// (the bias corrections are applied as multiplications by their reciprocals). Deterministic: a
/// fixed element-wise order, so the same inputs give the same bits. Not thread-safe.
public struct AdamW: Sendable {
  public let config: AdamWConfig
  public var state: AdamWState
  /// Contiguous ranges of the parameter buffer with their decay flag, covering it in order.
  public let segments: [(range: Range<Int>, decayed: Bool)]

  /// An optimizer for the parameters of `layout`, decaying the entries marked `isDecayed`.
  public init(config: AdamWConfig, layout: ParameterLayout, state: AdamWState? = nil) throws {
    try self.init(
      config: config, parameterCount: layout.totalCount,
      decayedRanges: layout.entries.filter(\.isDecayed).map { $0.offset..<($0.offset + $0.count) },
      state: state)
  }

  /// An optimizer for `parameterCount` parameters, decaying those in `decayedRanges` (sorted,
  /// disjoint, inside the buffer). Throws `.internalInvariant` if the ranges or the given
  /// state's moment counts do not fit.
  public init(config: AdamWConfig, parameterCount: Int, decayedRanges: [Range<Int>], state: AdamWState? = nil)
    throws
  {
    var segments: [(range: Range<Int>, decayed: Bool)] = []
    var position = 0
    for range in decayedRanges where !range.isEmpty {
      guard range.lowerBound >= position, range.upperBound <= parameterCount else {
        throw HindcastError(
          .internalInvariant, "decayed range \(range) is unsorted or outside \(parameterCount) parameters")
      }
      if range.lowerBound > position { segments.append((position..<range.lowerBound, false)) }
      segments.append((range, true))
      position = range.upperBound
    }
    if position < parameterCount { segments.append((position..<parameterCount, false)) }
    let state = state ?? AdamWState(parameterCount: parameterCount)
    guard state.m.count == parameterCount, state.v.count == parameterCount, state.step >= 0 else {
      throw HindcastError(
        .internalInvariant,
        "optimizer state has \(state.m.count)/\(state.v.count) moments for \(parameterCount) parameters")
    }
    self.config = config
    self.segments = segments
    self.state = state
  }

  /// Applies one update to `parameters` with `gradients` (same count as the state's moments)
  /// at `learningRate`, and advances `state.step`.
  public mutating func update(parameters: inout [Float], gradients: [Float], learningRate: Float) throws {
    let count = state.m.count
    guard parameters.count == count, gradients.count == count else {
      throw HindcastError(
        .internalInvariant,
        "AdamW got \(parameters.count) parameters and \(gradients.count) gradients for \(count) moments")
    }
    state.step += 1
    guard count > 0 else { return }
    let t = Double(state.step)
    let beta1 = config.beta1
    let beta2 = config.beta2
    let correction1 = Float(1 - pow(Double(beta1), t))
    let correction2 = Float(1 - pow(Double(beta2), t))
    let epsilon = config.epsilon
    let inverse1 = 1 / correction1
    let inverse2 = 1 / correction2
    let decay = config.weightDecay
    let segments = self.segments
    parameters.withUnsafeMutableBufferPointer { p in
      gradients.withUnsafeBufferPointer { g in
        state.m.withUnsafeMutableBufferPointer { m in
          state.v.withUnsafeMutableBufferPointer { v in
            guard let pp = UnsafeMutableRawPointer(p.baseAddress), let gp = UnsafeRawPointer(g.baseAddress),
              let mp = UnsafeMutableRawPointer(m.baseAddress), let vp = UnsafeMutableRawPointer(v.baseAddress)
            else { return }
            // Eight lanes at a time, then a scalar tail with the same per-element arithmetic
            // (element-wise IEEE operations, so both give identical bits). Debug builds use only
            // the scalar loop: unspecialized SIMD code there is some 20 times slower.
            typealias Lane = SIMD8<Float>
            #if DEBUG
              let laneWidth = Int.max
            #else
              let laneWidth = 8
            #endif
            // The update is element-wise, so splitting it over threads cannot change any bit.
            let pieces = Self.pieces(of: segments)
            DispatchQueue.concurrentPerform(iterations: pieces.count) { index in
              let piece = pieces[index]
              let segmentDecay: Float = piece.decayed ? decay : 0
              var i = piece.range.lowerBound
              let end = piece.range.upperBound
              while end - i >= laneWidth {
                let offset = i * 4
                let gradient = gp.loadUnaligned(fromByteOffset: offset, as: Lane.self)
                let mi =
                  beta1 * mp.loadUnaligned(fromByteOffset: offset, as: Lane.self) + (1 - beta1) * gradient
                let vi =
                  beta2 * vp.loadUnaligned(fromByteOffset: offset, as: Lane.self) + (1 - beta2) * gradient
                  * gradient
                mp.storeBytes(of: mi, toByteOffset: offset, as: Lane.self)
                vp.storeBytes(of: vi, toByteOffset: offset, as: Lane.self)
                let old = pp.loadUnaligned(fromByteOffset: offset, as: Lane.self)
                let mHat = mi * inverse1
                let vHat = vi * inverse2
                let step = learningRate * (mHat / (vHat.squareRoot() + epsilon) + segmentDecay * old)
                pp.storeBytes(of: old - step, toByteOffset: offset, as: Lane.self)
                i += 8
              }
              while i < end {
                let gradient = g[i]
                let mi = beta1 * m[i] + (1 - beta1) * gradient
                let vi = beta2 * v[i] + (1 - beta2) * gradient * gradient
                m[i] = mi
                v[i] = vi
                let mHat = mi * inverse1
                let vHat = vi * inverse2
                p[i] -= learningRate * (mHat / (vHat.squareRoot() + epsilon) + segmentDecay * p[i])
                i += 1
              }
            }
          }
        }
      }
    }
  }
}

extension AdamW {
  /// Elements per piece of a parallel update (a multiple of 8).
  static let pieceSize = 1 << 18

  /// `segments` cut into pieces of at most `pieceSize` elements, in order.
  static func pieces(of segments: [(range: Range<Int>, decayed: Bool)]) -> [(
    range: Range<Int>, decayed: Bool
  )] {
    var pieces: [(range: Range<Int>, decayed: Bool)] = []
    for segment in segments {
      var start = segment.range.lowerBound
      while start < segment.range.upperBound {
        let end = min(segment.range.upperBound, start + pieceSize)
        pieces.append((start..<end, segment.decayed))
        start = end
      }
    }
    return pieces
  }
}

/// Global-norm gradient clipping, as `torch.nn.utils.clip_grad_norm_`.
public enum GradientClipping {
  /// The L2 norm of all `gradients`, accumulated in double precision in four interleaved
  /// partial sums (a fixed order, so the result is deterministic).
  public static func globalNorm(_ gradients: [Float]) -> Float {
    gradients.withUnsafeBufferPointer { g in
      var sums = (0.0, 0.0, 0.0, 0.0)
      let blocked = g.count & ~3
      var i = 0
      while i < blocked {
        let a = Double(g[i])
        let b = Double(g[i + 1])
        let c = Double(g[i + 2])
        let d = Double(g[i + 3])
        sums.0 += a * a
        sums.1 += b * b
        sums.2 += c * c
        sums.3 += d * d
        i += 4
      }
      while i < g.count {
        sums.0 += Double(g[i]) * Double(g[i])
        i += 1
      }
      return Float(((sums.0 + sums.1) + (sums.2 + sums.3)).squareRoot())
    }
  }

  /// Scales `gradients` so that their global norm is at most `maxNorm` (no change when
  /// `maxNorm` is 0 or the norm is already within it). Returns the norm before clipping; a
  /// non-finite norm is returned and the gradients are left unchanged.
  @discardableResult
  public static func clip(_ gradients: inout [Float], maxNorm: Float) -> Float {
    let norm = globalNorm(gradients)
    guard maxNorm > 0, norm.isFinite, norm > maxNorm else { return norm }
    let scale = maxNorm / (norm + 1e-6)
    gradients.withUnsafeMutableBufferPointer { g in
      for i in g.indices { g[i] *= scale }
    }
    return norm
  }
}

/// The `hindcast train-lm` option that sets each training field, for error hints.
let trainingFieldOptions: [String: String] = [
  "steps": "--steps", "batch_size": "--batch", "sequence_length": "--seq", "learning_rate": "--lr",
  "warmup_steps": "--warmup", "final_lr_fraction": "--final-lr-fraction", "weight_decay": "--weight-decay",
  "clip_norm": "--clip",
]

/// Throws `.invalidConfig` naming `field` (and its command-line option) when `ok` is false.
func requireField(_ ok: Bool, _ field: String, _ range: String, _ source: String?) throws {
  if !ok {
    let option = trainingFieldOptions[field].map { " (option \($0))" } ?? ""
    throw HindcastError(
      .invalidConfig, "training setting '\(field)' must be \(range)", location: source,
      hint: "fix '\(field)'\(option)")
  }
}

#if canImport(Glibc)
  import Glibc
#else
  import Foundation
#endif
