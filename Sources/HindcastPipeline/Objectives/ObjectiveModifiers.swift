import HindcastModel

/// Options every objective accepts, applied around it.
///
/// - `difficulty`: each term's weight is multiplied by `sqrt(p (1 - p))` of the task's group pass
///   rate `p` (SC-SDPO): tasks the policy always or never solves contribute nothing, tasks at
///   p = 1/2 the most (0.5).
public struct ObjectiveModifiers: DistillObjective {
  public let inner: any DistillObjective
  public let difficulty: Bool

  public var name: String { inner.name }
  public var needs: ObjectiveNeeds { inner.needs }
  public var usesTeacher: Bool { inner.usesTeacher }

  /// `inner` itself when no common option is set, so the default path stays the objective's own.
  static func wrap(_ inner: any DistillObjective, options: ObjectiveOptions) -> any DistillObjective {
    options.flag("difficulty") ? ObjectiveModifiers(inner: inner, difficulty: true) : inner
  }

  /// The difficulty weight of a group pass rate.
  public static func difficultyWeight(passRate p: Double) -> Float { Float((p * (1 - p)).squareRoot()) }

  public func sequences(for view: RolloutView) throws -> [TrainingSequence] {
    var sequences = try inner.sequences(for: view)
    guard difficulty else { return sequences }
    let factor = Self.difficultyWeight(passRate: view.groupPassRate)
    if factor == 0 { return [] }
    for s in sequences.indices {
      for t in sequences[s].terms.indices { sequences[s].terms[t].weight *= factor }
    }
    return sequences
  }
}
