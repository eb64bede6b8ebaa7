/// The observations of one note, stored compactly: fixed fields in one array, task and rewrite
/// ids as UTF-8 in one byte arena. A note with a million observations costs about 90 bytes per
/// observation and no allocation per observation. Reading an element builds a
/// `ValueObservation` on demand.
public struct ObservationLog: RandomAccessCollection, Hashable, Sendable {
  struct Entry: Hashable, Sendable {
    var noteId: UInt64
    var round: Int
    var taskStart: Int
    var rewriteStart: Int
    var taskLength: UInt32
    var rewriteLength: UInt32
    var included: Bool
    var verified: Bool
  }

  private(set) var entries: [Entry] = []
  private(set) var arena: [UInt8] = []

  public init() {}

  public init<Observations: Sequence>(_ observations: Observations)
  where Observations.Element == ValueObservation {
    for observation in observations { append(observation) }
  }

  public var startIndex: Int { 0 }
  public var endIndex: Int { entries.count }

  public subscript(position: Int) -> ValueObservation {
    let entry = entries[position]
    return ValueObservation(
      noteId: NoteId(value: entry.noteId), included: entry.included, verified: entry.verified,
      taskId: text(entry.taskStart, entry.taskLength), round: entry.round,
      rewriteId: text(entry.rewriteStart, entry.rewriteLength))
  }

  private func text(_ start: Int, _ length: UInt32) -> String {
    String(decoding: arena[start..<(start + Int(length))], as: UTF8.self)
  }

  /// The rewrite id's UTF-8 bytes of element `position`.
  func withRewriteBytes<Result>(_ position: Int, _ body: (ArraySlice<UInt8>) -> Result) -> Result {
    let entry = entries[position]
    return body(arena[entry.rewriteStart..<(entry.rewriteStart + Int(entry.rewriteLength))])
  }

  /// The task id's UTF-8 bytes of element `position`.
  func taskBytes(_ position: Int) -> ArraySlice<UInt8> {
    let entry = entries[position]
    return arena[entry.taskStart..<(entry.taskStart + Int(entry.taskLength))]
  }

  func rewriteBytes(_ position: Int) -> ArraySlice<UInt8> {
    let entry = entries[position]
    return arena[entry.rewriteStart..<(entry.rewriteStart + Int(entry.rewriteLength))]
  }

  func round(_ position: Int) -> Int { entries[position].round }

  /// The (note, rewrite) de-duplication key of element `position` (see `MemoryState`).
  func key(_ position: Int) -> UInt64 {
    withRewriteBytes(position) { ObservationKey.of(noteId: entries[position].noteId, rewrite: $0) }
  }

  func noteId(_ position: Int) -> NoteId { NoteId(value: entries[position].noteId) }
  func included(_ position: Int) -> Bool { entries[position].included }
  func verified(_ position: Int) -> Bool { entries[position].verified }

  public mutating func append(_ observation: ValueObservation) {
    let taskStart = arena.count
    arena.append(contentsOf: observation.taskId.utf8)
    let rewriteStart = arena.count
    arena.append(contentsOf: observation.rewriteId.utf8)
    entries.append(
      Entry(
        noteId: observation.noteId.value, round: observation.round, taskStart: taskStart,
        rewriteStart: rewriteStart,
        taskLength: UInt32(rewriteStart - taskStart), rewriteLength: UInt32(arena.count - rewriteStart),
        included: observation.included, verified: observation.verified))
  }

  /// Appends element `position` of another log, copying its bytes.
  mutating func append(_ other: ObservationLog, _ position: Int) {
    var entry = other.entries[position]
    let taskStart = arena.count
    arena.append(contentsOf: other.arena[entry.taskStart..<(entry.taskStart + Int(entry.taskLength))])
    let rewriteStart = arena.count
    arena.append(
      contentsOf: other.arena[entry.rewriteStart..<(entry.rewriteStart + Int(entry.rewriteLength))])
    entry.taskStart = taskStart
    entry.rewriteStart = rewriteStart
    entries.append(entry)
  }

  /// Appends every element of another log.
  mutating func append(contentsOf other: ObservationLog) {
    let offset = arena.count
    arena.append(contentsOf: other.arena)
    entries.reserveCapacity(entries.count + other.entries.count)
    for var entry in other.entries {
      entry.taskStart += offset
      entry.rewriteStart += offset
      entries.append(entry)
    }
  }

  /// Appends an observation whose ids are bytes of `bytes` (used by the decoders, which read
  /// them straight from a record). Lengths above 4 GiB are not representable and are cut.
  mutating func append(
    noteId: UInt64, included: Bool, verified: Bool, round: Int, task: Range<Int>, rewrite: Range<Int>,
    in bytes: UnsafeBufferPointer<UInt8>
  ) {
    let taskStart = arena.count
    arena.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[task]))
    let rewriteStart = arena.count
    arena.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[rewrite]))
    entries.append(
      Entry(
        noteId: noteId, round: round, taskStart: taskStart, rewriteStart: rewriteStart,
        taskLength: UInt32(truncatingIfNeeded: task.count),
        rewriteLength: UInt32(truncatingIfNeeded: rewrite.count),
        included: included, verified: verified))
  }

  public mutating func removeAll() {
    entries = []
    arena = []
  }

  /// Equal when they hold the same observations in the same order (arena layout aside).
  public static func == (lhs: ObservationLog, rhs: ObservationLog) -> Bool {
    guard lhs.entries.count == rhs.entries.count else { return false }
    for position in lhs.indices {
      let (a, b) = (lhs.entries[position], rhs.entries[position])
      guard a.noteId == b.noteId, a.round == b.round, a.included == b.included, a.verified == b.verified,
        lhs.arena[a.taskStart..<(a.taskStart + Int(a.taskLength))]
          == rhs.arena[b.taskStart..<(b.taskStart + Int(b.taskLength))],
        lhs.arena[a.rewriteStart..<(a.rewriteStart + Int(a.rewriteLength))]
          == rhs.arena[b.rewriteStart..<(b.rewriteStart + Int(b.rewriteLength))]
      else { return false }
    }
    return true
  }

  public func hash(into hasher: inout Hasher) {
    hasher.combine(entries.count)
  }
}

/// The (note, rewrite) key that makes observations idempotent: FNV-1a 64 over the note id's 8
/// bytes (little-endian) and the rewrite id's UTF-8 bytes.
enum ObservationKey {
  static func of<Bytes: Sequence>(noteId: UInt64, rewrite: Bytes) -> UInt64 where Bytes.Element == UInt8 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    var id = noteId
    for _ in 0..<8 {
      hash ^= id & 0xFF
      hash = hash &* 0x0000_0100_0000_01B3
      id >>= 8
    }
    for byte in rewrite {
      hash ^= UInt64(byte)
      hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
  }
}

/// A set of 64-bit keys that are already well-mixed hashes (open addressing, linear probing,
/// Fibonacci hashing). Faster than `Set<UInt64>`, which rehashes every key with SipHash.
struct KeySet: Hashable, Sendable {
  private var slots: [UInt64] = []
  private var shift = 64
  private(set) var count = 0
  private var containsZero = false

  init() {}

  func contains(_ key: UInt64) -> Bool {
    if key == 0 { return containsZero }
    guard !slots.isEmpty else { return false }
    let mask = slots.count - 1
    var index = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> UInt64(shift))
    while true {
      let slot = slots[index]
      if slot == key { return true }
      if slot == 0 { return false }
      index = (index + 1) & mask
    }
  }

  /// Inserts `key`; false if it was already present.
  @discardableResult
  mutating func insert(_ key: UInt64) -> Bool {
    if key == 0 {
      defer { containsZero = true }
      if containsZero { return false }
      count += 1
      return true
    }
    if (count + 1) * 4 > slots.count * 3 { grow() }
    let mask = slots.count - 1
    var index = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> UInt64(shift))
    while true {
      let slot = slots[index]
      if slot == key { return false }
      if slot == 0 {
        slots[index] = key
        count += 1
        return true
      }
      index = (index + 1) & mask
    }
  }

  private mutating func grow() {
    let old = slots
    let capacity = max(64, old.count * 2)
    slots = [UInt64](repeating: 0, count: capacity)
    shift = 64 - capacity.trailingZeroBitCount
    let mask = capacity - 1
    for key in old where key != 0 {
      var index = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> UInt64(shift))
      while slots[index] != 0 { index = (index + 1) & mask }
      slots[index] = key
    }
  }

  static func == (lhs: KeySet, rhs: KeySet) -> Bool {
    guard lhs.count == rhs.count, lhs.containsZero == rhs.containsZero else { return false }
    return lhs.slots.allSatisfy { $0 == 0 || rhs.contains($0) }
  }

  func hash(into hasher: inout Hasher) {
    hasher.combine(count)
  }
}

/// Note positions by id (open addressing over the id's 64 bits, which are already mixed).
/// Faster than `[NoteId: Int]`, which hashes every lookup with SipHash.
struct PositionIndex: Sendable {
  private var keys: [UInt64] = []
  private var values: [Int] = []
  private var shift = 64
  private(set) var count = 0
  private var zeroValue: Int?

  init() {}

  subscript(id: NoteId) -> Int? {
    get {
      let key = id.value
      if key == 0 { return zeroValue }
      guard !keys.isEmpty else { return nil }
      let mask = keys.count - 1
      var index = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> UInt64(shift))
      while true {
        let slot = keys[index]
        if slot == key { return values[index] }
        if slot == 0 { return nil }
        index = (index + 1) & mask
      }
    }
    set {
      // Positions are only ever added (notes are never removed).
      guard let newValue else { return }
      let key = id.value
      if key == 0 {
        if zeroValue == nil { count += 1 }
        zeroValue = newValue
        return
      }
      if (count + 1) * 2 > keys.count { grow() }
      let mask = keys.count - 1
      var index = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> UInt64(shift))
      while keys[index] != 0 && keys[index] != key { index = (index + 1) & mask }
      if keys[index] == 0 { count += 1 }
      keys[index] = key
      values[index] = newValue
    }
  }

  private mutating func grow() {
    let (oldKeys, oldValues) = (keys, values)
    let capacity = max(64, oldKeys.count * 2)
    keys = [UInt64](repeating: 0, count: capacity)
    values = [Int](repeating: 0, count: capacity)
    shift = 64 - capacity.trailingZeroBitCount
    let mask = capacity - 1
    for (key, value) in zip(oldKeys, oldValues) where key != 0 {
      var index = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> UInt64(shift))
      while keys[index] != 0 { index = (index + 1) & mask }
      keys[index] = key
      values[index] = value
    }
  }
}
