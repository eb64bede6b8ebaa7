/// What the memory stage knows about one failed attempt (and its rewrite), in the plain terms a
/// proposer needs. The pipeline fills it from its feedback and rewrite records, so this module
/// does not depend on the task families.
public struct NoteEvidence: Hashable, Sendable {
  /// The task family, e.g. `arith`.
  public var family: String
  /// Features of the task (the family's own vocabulary, e.g. `carry`, `multi-digit`).
  public var features: [String]
  /// The critic's critique of the attempt.
  public var critique: String
  /// The critic's machine-readable cause, e.g. `dropped-carry`; nil if it gave none.
  public var causeTag: String?
  /// The critic's hint of what to do instead, if any.
  public var hint: String?
  /// Whether a hindsight rewrite of this attempt was verified correct.
  public var verifiedRewrite: Bool
  /// The records the evidence came from (run, round, rollout, feedback and rewrite ids, task).
  public var provenance: NoteProvenance

  public init(
    family: String, features: [String], critique: String, causeTag: String? = nil, hint: String? = nil,
    verifiedRewrite: Bool, provenance: NoteProvenance
  ) {
    self.family = family
    self.features = features
    self.critique = critique
    self.causeTag = causeTag
    self.hint = hint
    self.verifiedRewrite = verifiedRewrite
    self.provenance = provenance
  }
}

/// Turns evidence into strategy notes. A model-based proposer can conform later; the store
/// de-duplicates and merges whatever a proposer returns.
public protocol NoteProposer {
  /// Notes for one piece of evidence (possibly none). Must be deterministic for equal input.
  func propose(from evidence: NoteEvidence) -> [Note]
}

/// A deterministic proposer for the built-in families: known causes map to hand-written
/// "when X, do Y, because Z" advice scoped to the features the advice is about; other causes
/// become a family-wide note built from the critic's hint and the first sentence of its
/// critique. Notes longer than `maxTokens` are cut at a word boundary and end with "…".
public struct RuleBasedNoteProposer: NoteProposer {
  /// One piece of advice for a cause.
  struct Rule {
    /// Substrings of the normalized cause tag that select the rule.
    let causes: [String]
    let when: String
    let action: String
    let because: String
    /// Task features (substring match) that the advice is about; the note's scope keeps those of
    /// the task's features that match, or is family-wide if none do.
    let scopeKeywords: [String]
  }

  /// The token limit of one note (bytes + marker, see `NoteText.tokenCount`).
  public var maxTokens: Int

  public init(maxTokens: Int = 240) {
    self.maxTokens = maxTokens
  }

  static let rules: [String: [Rule]] = [
    "arith": [
      Rule(
        causes: ["carry"], when: "adding multi-digit numbers",
        action: "write the carry of each column before moving to the next column",
        because: "a dropped carry makes every later step wrong", scopeKeywords: ["add", "carry", "digit"]),
      Rule(
        causes: ["borrow"], when: "subtracting a larger digit from a smaller one",
        action: "borrow from the next column and lower that column by one",
        because: "a missed borrow leaves the difference off by a power of ten",
        scopeKeywords: ["sub", "borrow", "digit"]),
      Rule(
        causes: ["precedence", "order-of-operations"], when: "an expression mixes + or - with * or /",
        action: "compute the products and quotients first, left to right, then the sums",
        because: "evaluating strictly left to right changes the result",
        scopeKeywords: ["mul", "mix", "prec"]),
      Rule(
        causes: ["sign", "negative"], when: "a step produces or uses a negative number",
        action: "carry the minus sign into the next step explicitly",
        because: "a lost sign flips the final answer", scopeKeywords: ["neg", "sub", "sign"]),
      Rule(
        causes: ["parse", "format", "syntax"], when: "writing the scratchpad",
        action: "put one step per line as 'a op b = c' and end with the answer line",
        because: "the checker cannot evaluate steps it cannot parse", scopeKeywords: []),
      Rule(
        causes: ["mul", "product", "times-table"], when: "multiplying multi-digit numbers",
        action: "multiply by one digit at a time and add the shifted partial products",
        because: "a partial product in the wrong column is off by a factor of ten",
        scopeKeywords: ["mul", "digit"]),
    ],
    "listdsl": [
      Rule(
        causes: ["parse", "syntax"], when: "writing a list program",
        action: "compose known operations with '|' and give every operation its integer argument",
        because: "a program that does not parse fails every test", scopeKeywords: []),
      Rule(
        causes: ["order", "sort"], when: "the examples' outputs keep the input order",
        action: "do not sort; filter or map in place",
        because: "sorting reorders elements the examples keep in place",
        scopeKeywords: ["sort", "order", "filter"]),
      Rule(
        causes: ["off-by-one", "take", "drop", "index"], when: "taking or dropping a prefix",
        action: "count the elements the examples keep and check the shortest example",
        because: "take and drop past the end behave differently from what the examples show",
        scopeKeywords: ["take", "drop", "prefix", "slice"]),
      Rule(
        causes: ["empty"], when: "an example input can be empty",
        action: "check what each operation returns on an empty list",
        because: "sum and head of an empty list differ from the examples", scopeKeywords: ["empty", "sum"]),
      Rule(
        causes: ["step-limit", "time-limit", "timeout", "loop"], when: "a program repeats work",
        action: "use a single pass of map or filter instead of repeated operations",
        because: "the interpreter stops programs that exceed the step limit", scopeKeywords: []),
      Rule(
        causes: ["runtime", "type"], when: "an operation's argument depends on the input",
        action: "check the operation's argument type and range against the examples",
        because: "a runtime error fails the test at that position", scopeKeywords: []),
    ],
  ]

  public func propose(from evidence: NoteEvidence) -> [Note] {
    let family = NoteText.clean(evidence.family).lowercased()
    let cause = String((evidence.causeTag ?? "").lowercased().map { $0 == "_" ? "-" : $0 })
    let origin: NoteOrigin = evidence.verifiedRewrite ? .verifiedRewrite : .critique
    let text: String
    let features: [String]
    if !cause.isEmpty,
      let rule = Self.rules[family]?.first(where: { rule in rule.causes.contains { cause.contains($0) } })
    {
      text = "When \(rule.when), \(rule.action), because \(rule.because)."
      features = evidence.features.filter { feature in
        let lowered = feature.lowercased()
        return rule.scopeKeywords.contains { lowered.contains($0) }
      }
    } else {
      let reason = Self.firstSentence(evidence.critique)
      let hint = NoteText.clean(evidence.hint ?? "")
      guard !reason.isEmpty || !hint.isEmpty else { return [] }
      let article = family.first.map { "aeiou".contains($0) } == true ? "an" : "a"
      let situation =
        cause.isEmpty
        ? "solving \(article) \(family) task" : "\(article) \(family) attempt fails with '\(cause)'"
      let action =
        hint.isEmpty
        ? "check the step the critique points at" : Self.lowercasedFirst(Self.trimmedPeriod(hint))
      let because =
        reason.isEmpty
        ? "it was the cause of a failed attempt" : Self.lowercasedFirst(Self.trimmedPeriod(reason))
      text = "When \(situation), \(action), because \(because)."
      features = []
    }
    let scope = NoteScope(family: family, features: features)
    return [
      Note(
        text: Self.truncated(text, maxTokens: maxTokens), scope: scope, origin: origin,
        provenance: evidence.provenance, createdRound: evidence.provenance.round)
    ]
  }

  static func firstSentence(_ text: String) -> String {
    let clean = NoteText.clean(text)
    guard let end = clean.firstIndex(where: { $0 == "." || $0 == "!" || $0 == "?" || $0 == ";" }) else {
      return clean
    }
    return String(clean[..<end])
  }

  static func trimmedPeriod(_ text: String) -> String {
    var text = text
    while let last = text.last, last == "." || last == " " { text.removeLast() }
    return text
  }

  static func lowercasedFirst(_ text: String) -> String {
    guard let first = text.first else { return text }
    // Keep acronyms and identifiers ("LCM", "take(3)") as written.
    if text.count > 1, text.dropFirst().first?.isUppercase == true { return text }
    return first.lowercased() + text.dropFirst()
  }

  /// Cuts `text` so that it costs at most `maxTokens`, at a word boundary, adding "…".
  static func truncated(_ text: String, maxTokens: Int) -> String {
    guard NoteText.tokenCount(text) > maxTokens else { return text }
    let marker = "…"
    let limit = max(0, maxTokens - 1 - marker.utf8.count)
    var result = ""
    for word in text.split(separator: " ") {
      let candidate = result.isEmpty ? String(word) : result + " " + word
      guard candidate.utf8.count <= limit else { break }
      result = candidate
    }
    if result.isEmpty {
      // One very long word: cut by characters.
      for character in text {
        guard result.utf8.count + String(character).utf8.count <= limit else { break }
        result.append(character)
      }
    }
    return result + marker
  }
}
