import Foundation
import HindcastSupport

/// Realistic wrong list programs: a confusable op, an argument off by one, two ops swapped, an op
/// missing or added, or a slip in the syntax.
enum ListFlaws {
  static func draw(program: ListProgram, rng: inout SeededRandom) -> String {
    var ops = program.ops
    guard !ops.isEmpty else { return "sort" }
    let index = rng.nextInt(below: ops.count)
    let roll = rng.nextInt(below: 100)
    if roll < 25 {
      ops[index] = confusable(ops[index], rng: &rng)
    } else if roll < 50 {
      ops[index] = offByOne(ops[index], rng: &rng)
    } else if roll < 65 && ops.count > 1 {
      let other = index == ops.count - 1 ? index - 1 : index + 1
      ops.swapAt(index, other)
    } else if roll < 78 && ops.count > 1 {
      ops.remove(at: index)
    } else if roll < 90 {
      let extras: [ListOp] = [.sort, .rev, .keepEven, .keepOdd, .take(2), .drop(1), .mapAdd(1)]
      ops.insert(extras[rng.nextInt(below: extras.count)], at: rng.nextInt(below: ops.count + 1))
    } else {
      return syntaxSlip(ListProgram(ops: ops).text, rng: &rng)
    }
    // sum/max must stay last to be plausible.
    if let reducer = ops.firstIndex(where: \.reduces), reducer != ops.count - 1 {
      let op = ops.remove(at: reducer)
      ops.append(op)
    }
    return ListProgram(ops: ops).text
  }

  static func confusable(_ op: ListOp, rng: inout SeededRandom) -> ListOp {
    switch op {
    case .sort: return .rev
    case .rev: return .sort
    case .keepEven: return .keepOdd
    case .keepOdd: return .keepEven
    case .keepGreater(let k): return .keepLess(k)
    case .keepLess(let k): return .keepGreater(k)
    case .take(let k): return .drop(k)
    case .drop(let k): return .take(k)
    case .sum: return .max
    case .max: return .sum
    case .mapAdd(let k): return .mapMul(k <= 1 ? 2 : Swift.min(k, 3))
    case .mapMul(let k): return .mapAdd(k)
    }
  }

  static func offByOne(_ op: ListOp, rng: inout SeededRandom) -> ListOp {
    let delta = rng.nextInt(below: 2) == 0 ? 1 : -1
    func shift(_ k: Int, minimum: Int) -> Int { k + delta < minimum ? k + 1 : k + delta }
    switch op {
    case .mapAdd(let k): return .mapAdd(shift(k, minimum: 1))
    case .mapMul(let k): return .mapMul(shift(k, minimum: 2))
    case .keepGreater(let k): return .keepGreater(shift(k, minimum: 0))
    case .keepLess(let k): return .keepLess(shift(k, minimum: 1))
    case .take(let k): return .take(shift(k, minimum: 1))
    case .drop(let k): return .drop(shift(k, minimum: 1))
    case .keepEven, .keepOdd, .sort, .rev, .sum, .max: return confusable(op, rng: &rng)
    }
  }

  /// A typo, a dropped argument or a program cut short.
  static func syntaxSlip(_ text: String, rng: inout SeededRandom) -> String {
    switch rng.nextInt(below: 3) {
    case 0:
      let typos = [
        ("sort", "sortt"), ("take", "tak"), ("keep", "kep"), ("drop", "dorp"), ("map", "mpa"),
        ("rev", "reverse"), ("sum", "summ"), ("max", "mx"),
      ]
      let start = rng.nextInt(below: typos.count)
      for offset in 0..<typos.count {
        let (word, typo) = typos[(start + offset) % typos.count]
        if let changed = text.replacingFirst(word, with: typo) { return changed }
      }
      return text + "|"
    case 1:
      if let range = text.range(of: " ", options: .backwards) {
        let afterSpace = text[range.upperBound...]
        if afterSpace.allSatisfy({ $0.isNumber || $0 == "+" || $0 == "*" || $0 == ">" || $0 == "<" }) {
          return String(text[..<range.lowerBound])
        }
      }
      return text + "|"
    default:
      let bytes = Array(text.utf8)
      guard bytes.count > 2 else { return text + "|" }
      return String(decoding: bytes.prefix(1 + rng.nextInt(below: bytes.count - 2)), as: UTF8.self)
    }
  }
}

extension String {
  /// The string with the first occurrence of `target` replaced, or nil if there is none.
  func replacingFirst(_ target: String, with replacement: String) -> String? {
    guard let range = range(of: target) else { return nil }
    return replacingCharacters(in: range, with: replacement)
  }
}
