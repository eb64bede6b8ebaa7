/// Explains listdsl failures from behaviour: how the wrong output relates to the wanted one
/// (reversed, sorted when it should not be, too many elements, values shifted, ...), and what
/// a parse or runtime error means. Deterministic.
///
/// Causes: pass, parse causes (empty-program, empty-op, unknown-op, missing-argument,
/// bad-argument, unexpected-text), runtime causes (take-too-long, drop-too-long, max-of-empty,
/// op-after-reduction, value-too-large, step-limit), output causes (missing-reduction,
/// extra-reduction, wrong-number, reversed-order, extra-sort, missing-sort, wrong-order, wrong-end,
/// wrong-filter, wrong-map,
/// map-offset, map-scale, wrong-values, take-too-many, drop-too-few, missing-filter, too-long,
/// take-too-few, drop-too-many, over-filter, too-short), bad-task, other.
public struct ListDSLCritic: Critic {
  public init() {}

  public func critique(task: TaskRecord, attempt: String, result: ExecutionResult) -> Critique {
    if result.passed { return .passed }
    guard case .success(let cases) = ListDSLFamily().testCases(of: task) else {
      return Critique(text: "the task itself is malformed", cause: "bad-task")
    }
    let program: ListProgram
    switch ListLanguage.parse(attempt) {
    case .failure(let error): return Self.explain(error)
    case .success(let parsed): program = parsed
    }
    for testCase in cases {
      switch ListLanguage.run(program, on: testCase.input) {
      case .failure(let error):
        return Self.explain(error, program: program)
      case .success(let output) where output != testCase.output:
        // "Sorted" is judged on every wanted output, not one that happens to be in order.
        let outputsSorted = cases.allSatisfy { testCase in
          guard case .list(let items) = testCase.output else { return false }
          return items == items.sorted()
        }
        return Self.explain(
          want: testCase.output, got: output, input: testCase.input, program: program,
          outputsSorted: outputsSorted)
      case .success:
        continue
      }
    }
    return Critique(text: "the attempt failed for a reason the critic cannot see", cause: "other")
  }

  static func explain(_ error: ListParseError) -> Critique {
    let ops = "ops: map keep sort rev take drop sum max"
    switch error.reason {
    case .emptyProgram:
      return Critique(
        text: "the program is empty", cause: error.reason.rawValue, hint: "write ops joined by |")
    case .emptyOp:
      return Critique(
        text: "there is an empty op between two |", cause: error.reason.rawValue, hint: "remove the extra |")
    case .unknownOp:
      return Critique(text: error.message, cause: error.reason.rawValue, hint: ops)
    case .missingArgument, .badArgument:
      return Critique(text: error.message, cause: error.reason.rawValue, hint: "e.g. take 2, map +3, keep >4")
    case .unexpectedText:
      return Critique(text: error.message, cause: error.reason.rawValue, hint: "join ops with |")
    }
  }

  static func explain(_ error: ListRuntimeError, program: ListProgram) -> Critique {
    let cause = error.reason.rawValue
    switch error.reason {
    case .takeTooLong, .dropTooLong:
      let verb = error.reason == .takeTooLong ? "take" : "drop"
      return Critique(
        text: error.message, cause: cause,
        hint: "\(verb) fewer, or \(verb) earlier")
    case .maxOfEmpty:
      return Critique(
        text: "max ran on an empty list", cause: cause, hint: "an earlier op removed everything")
    case .opAfterReduction:
      return Critique(text: error.message, cause: cause, hint: "sum and max must come last")
    case .valueTooLarge:
      return Critique(text: error.message, cause: cause, hint: "the examples use small numbers")
    case .stepLimit:
      return Critique(
        text: "the program has far too many ops (\(program.ops.count))", cause: cause,
        hint: "the examples need at most a few ops")
    }
  }

  static func explain(
    want: ListValue, got: ListValue, input: [Int], program: ListProgram, outputsSorted: Bool
  )
    -> Critique
  {
    switch (want, got) {
    case (.number, .list):
      return Critique(
        text: "the program returns a list but the examples return a number", cause: "missing-reduction",
        hint: "end with sum or max")
    case (.list, .number):
      return Critique(
        text: "the program returns a number but the examples return a list", cause: "extra-reduction",
        hint: "remove sum or max")
    case (.number(let wanted), .number(let value)):
      let hint = program.ops.last == .sum ? "max instead, or sum fewer" : "sum instead?"
      return Critique(text: "the result is \(value), not \(wanted)", cause: "wrong-number", hint: hint)
    case (.list(let wanted), .list(let items)):
      return explainLists(
        wanted: wanted, got: items, input: input, program: program, outputsSorted: outputsSorted)
    }
  }

  private static func explainLists(
    wanted: [Int], got: [Int], input: [Int], program: ListProgram, outputsSorted: Bool
  ) -> Critique {
    let inputText = ListValue.list(input).text
    let hasSort = program.ops.contains(.sort)
    let hasRev = program.ops.contains(.rev)
    let wantedSorted = wanted == wanted.sorted()
    let gotSorted = got == got.sorted()
    if wanted.sorted() == got.sorted() {
      if gotSorted && !wantedSorted && hasSort {
        return Critique(
          text:
            "sorted the list but the examples keep \(wanted == wanted.sorted(by: >) ? "descending" : "input") order",
          cause: "extra-sort", hint: "remove sort")
      }
      if wanted == got.reversed() {
        return Critique(
          text: "the output is reversed", cause: "reversed-order", hint: hasRev ? "remove rev" : "add rev")
      }
      if wantedSorted {
        return Critique(
          text: "the examples are sorted; the output is not", cause: "missing-sort", hint: "add sort")
      }
      return Critique(
        text: "the right elements in the wrong order", cause: "wrong-order", hint: "check sort and rev")
    }
    if outputsSorted && !gotSorted && wanted.count > 1 {
      return Critique(
        text: "the examples are sorted; the output is not", cause: "missing-sort", hint: "add sort")
    }
    if let critique = relativeToInput(wanted: wanted, got: got, input: input, program: program) {
      return critique
    }
    if wanted.count == got.count && !wanted.isEmpty {
      let differences = Set(zip(wanted, got).map { $0 - $1 })
      if differences.count == 1, let difference = differences.first, Set(got).count > 1 {
        return Critique(
          text: "every value is off by \(difference)", cause: "map-offset", hint: "check the map constant")
      }
      // Same ratio everywhere: wanted[i] * got[r] == got[i] * wanted[r] for a non-zero pair r.
      if let reference = wanted.indices.first(where: { wanted[$0] != 0 && got[$0] != 0 }) {
        let sameRatio = zip(wanted, got).allSatisfy { $0 * got[reference] == $1 * wanted[reference] }
        if sameRatio && Set(got).count > 1 {
          return Critique(
            text: "the values are scaled wrongly", cause: "map-scale", hint: "check map * and map +")
        }
      }
    }
    if let critique = mapOfInput(wanted: wanted, got: got, input: input) { return critique }
    if wanted.count == got.count && !wanted.isEmpty {
      return Critique(text: "wrong values on \(inputText)", cause: "wrong-values", hint: "check map and keep")
    }
    let hasTake = program.ops.contains { if case .take = $0 { return true } else { return false } }
    let hasDrop = program.ops.contains { if case .drop = $0 { return true } else { return false } }
    if got.count > wanted.count {
      let removed = isSubsequence(wanted, of: got) ? removedElements(kept: wanted, from: got) : []
      let separator = removed.isEmpty ? nil : separatingKeep(kept: wanted, removed: removed)
      if got.starts(with: wanted) && (hasTake || separator == nil) {
        return Critique(
          text: "keeps too many elements from the front", cause: "take-too-many", hint: "take fewer")
      }
      if got.reversed().starts(with: wanted.reversed()) && (hasDrop || separator == nil) {
        return Critique(
          text: "drops too few elements from the front", cause: "drop-too-few", hint: "drop more")
      }
      if !removed.isEmpty {
        return Critique(
          text: "keeps \(FeedbackText.clip(ListValue.list(removed).text)), which the examples remove",
          cause: "missing-filter", hint: separator.map { "try \($0)" } ?? "add or change a keep")
      }
      return Critique(
        text: "the output has too many elements", cause: "too-long", hint: "check take, drop and keep")
    }
    let hasKeep = program.ops.contains { $0.kind == "keep" }
    if wanted.starts(with: got) && (hasTake || !hasKeep) {
      return Critique(text: "keeps too few elements", cause: "take-too-few", hint: "take more")
    }
    if wanted.reversed().starts(with: got.reversed()) && (hasDrop || !hasKeep) {
      return Critique(
        text: "drops too many elements from the front", cause: "drop-too-many", hint: "drop fewer")
    }
    if isSubsequence(got, of: wanted) {
      let lost = removedElements(kept: got, from: wanted)
      return Critique(
        text: "removes \(FeedbackText.clip(ListValue.list(lost).text)), which the examples keep",
        cause: "over-filter",
        hint: "loosen or remove a keep")
    }
    return Critique(
      text: "the output has too few elements", cause: "too-short", hint: "check take, drop and keep")
  }

  /// Explanations that compare both outputs with the input: which end of the list is kept, which
  /// parity or range of values is kept.
  private static func relativeToInput(wanted: [Int], got: [Int], input: [Int], program: ListProgram)
    -> Critique?
  {
    // Each explanation applies only if the attempt has an op that could have caused it.
    let cutsEnds = program.ops.contains { $0.kind == "take" || $0.kind == "drop" }
    let keepsParity = program.ops.contains { $0 == .keepEven || $0 == .keepOdd }
    let keepsRange = program.ops.contains {
      if case .keepGreater = $0 { true } else if case .keepLess = $0 { true } else { false }
    }
    func isPrefix(_ items: [Int]) -> Bool {
      !items.isEmpty && items.count < input.count && input.starts(with: items)
    }
    func isSuffix(_ items: [Int]) -> Bool {
      !items.isEmpty && items.count < input.count && input.reversed().starts(with: items.reversed())
    }
    if cutsEnds && isPrefix(wanted) && !isPrefix(got) && isSuffix(got) {
      return Critique(
        text: "the examples keep the front of the list", cause: "wrong-end", hint: "take k keeps the first k")
    }
    if cutsEnds && isSuffix(wanted) && !isSuffix(got) && isPrefix(got) {
      return Critique(
        text: "the examples keep the end of the list", cause: "wrong-end", hint: "drop k removes the first k")
    }
    if keepsParity && !wanted.isEmpty && !got.isEmpty {
      let wantedEven = wanted.allSatisfy { $0 % 2 == 0 }
      let wantedOdd = wanted.allSatisfy { $0 % 2 != 0 }
      let gotEven = got.allSatisfy { $0 % 2 == 0 }
      let gotOdd = got.allSatisfy { $0 % 2 != 0 }
      if (wantedEven && gotOdd) || (wantedOdd && gotEven) {
        let kept = gotEven ? "even" : "odd"
        let needed = wantedEven ? "even" : "odd"
        return Critique(
          text: "keeps \(kept) numbers; the examples keep \(needed) ones", cause: "wrong-filter",
          hint: "keep \(needed)")
      }
    }
    let fromInput = { (items: [Int]) in items.allSatisfy { input.contains($0) } }
    if keepsRange && !wanted.isEmpty && !got.isEmpty && fromInput(wanted) && fromInput(got) {
      if let largestWanted = wanted.max(), let smallestGot = got.min(), largestWanted < smallestGot {
        return Critique(
          text: "keeps large values; the examples keep small ones", cause: "wrong-filter", hint: "keep <k")
      }
      if let smallestWanted = wanted.min(), let largestGot = got.max(), smallestWanted > largestGot {
        return Critique(
          text: "keeps small values; the examples keep large ones", cause: "wrong-filter", hint: "keep >k")
      }
    }
    return nil
  }

  /// Whether the examples add a constant to, or multiply, every element of the input.
  private static func mapOfInput(wanted: [Int], got: [Int], input: [Int]) -> Critique? {
    if wanted.count == input.count && got.count == input.count && !input.isEmpty {
      for k in 2...9 where wanted == input.map({ $0 * k }) {
        return Critique(
          text: "the examples multiply each value by \(k)", cause: "wrong-map", hint: "map *\(k)")
      }
      for k in 1...9 where wanted == input.map({ $0 + k }) {
        return Critique(text: "the examples add \(k) to each value", cause: "wrong-map", hint: "map +\(k)")
      }
    }
    return nil
  }

  static func isSubsequence(_ small: [Int], of large: [Int]) -> Bool {
    var index = 0
    for item in large where index < small.count && item == small[index] { index += 1 }
    return index == small.count
  }

  /// The elements of `from` left over after matching `kept` as a subsequence.
  static func removedElements(kept: [Int], from: [Int]) -> [Int] {
    var index = 0
    var removed: [Int] = []
    for item in from {
      if index < kept.count && item == kept[index] { index += 1 } else { removed.append(item) }
    }
    return removed
  }

  /// A keep op that separates kept from removed values, if one exists.
  static func separatingKeep(kept: [Int], removed: [Int]) -> String? {
    let candidates: [(String, (Int) -> Bool)] =
      [("keep even", { $0 % 2 == 0 }), ("keep odd", { $0 % 2 != 0 })]
      + (0...9).map { k in ("keep >\(k)", { $0 > k }) } + (1...10).map { k in ("keep <\(k)", { $0 < k }) }
    for (text, predicate) in candidates
    where kept.allSatisfy(predicate) && !removed.contains(where: predicate) {
      return text
    }
    return nil
  }
}
