/// A zero-initialized, fixed-size float buffer that owns its memory. Used for activations and
/// scratch space that are laid out once per batch shape and reused across steps.
///
/// Not thread-safe. The pointer stays valid for the buffer's lifetime.
public final class FloatBuffer {
  public let count: Int
  public let pointer: UnsafeMutablePointer<Float>

  public init(count: Int) {
    self.count = count
    pointer = .allocate(capacity: max(count, 1))
    pointer.initialize(repeating: 0, count: max(count, 1))
  }

  deinit { pointer.deallocate() }

  /// Sets every element to zero.
  public func zero() { pointer.update(repeating: 0, count: count) }

  public var buffer: UnsafeMutableBufferPointer<Float> {
    UnsafeMutableBufferPointer(start: pointer, count: count)
  }
}
