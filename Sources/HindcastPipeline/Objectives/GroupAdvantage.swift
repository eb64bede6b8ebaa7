/// Group-relative advantages (GRPO): a sample's reward minus its group's mean, divided by the
/// group's standard deviation (population form) plus 1e-4.
public enum GroupAdvantage {
  /// The advantage of `view`'s rollout, or nil when its group has fewer than two samples or all
  /// rewards are equal (no signal).
  public static func of(_ view: RolloutView) -> Float? {
    let rewards = view.group.map(\.reward)
    guard rewards.count > 1 else { return nil }
    let mean = rewards.reduce(0, +) / Double(rewards.count)
    let variance = rewards.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(rewards.count)
    guard variance > 0 else { return nil }
    return Float((view.feedback.reward - mean) / (variance.squareRoot() + 1e-4))
  }
}
