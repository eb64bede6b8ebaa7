import Foundation
import HindcastKernels
import HindcastModel
import HindcastSupport
import HindcastTraining

/// Runs stages of a run: one at a time (the stage commands) or all rounds in order (`run`).
/// Everything already recorded in the manifest is skipped, so running again resumes.
public struct PipelineRunner {
  public let run: Run
  public let tasks: TaskSource

  public init(run: Run) throws {
    self.run = run
    tasks = try TaskSource(spec: run.spec, hiddenPaths: [run.layout.root])
    BLASThreads.set(run.spec.model.threads)
  }

  var store: PolicyStore { PolicyStore(run: run) }

  /// Stage 0: pretrains the base policy, or copies `base.policy` when the spec names one.
  public func pretrain() throws {
    try checkBLASCore()
    guard let base = run.spec.basePolicy else {
      try PretrainStage(run: run, tasks: tasks).execute()
      return
    }
    if try store.exists(round: 0) { return }
    let weights = try CheckpointIO.readWeights(base)
    guard weights.config == run.spec.model.config else {
      throw HindcastError(
        .shapeMismatch, "base policy's model config differs from the spec's [model]", location: base,
        hint: "use the same model preset and shape as the run that produced the base policy")
    }
    try store.save(try Transformer(config: weights.config, parameters: weights.parameters), round: 0)
  }

  /// Runs one stage of one round.
  public func stage(_ stage: StageName, round: Int) throws {
    guard round >= 0 && round <= run.spec.rounds else {
      throw HindcastError(
        .invalidInput, "round \(round) is outside this run's rounds 0...\(run.spec.rounds)",
        location: run.layout.spec)
    }
    SandboxNotice.warnIfWeak(family: tasks.family, stage: stage.rawValue, reporter: run.reporter)
    try checkBLASCore()
    switch stage {
    case .rollout:
      try RolloutStage(run: run, tasks: tasks).execute(
        round: round, policy: try stagePolicy(stage, round: round))
    case .feedback:
      try FeedbackStage(run: run, tasks: tasks).execute(round: round)
    case .rewrite:
      let policy = try stagePolicy(stage, round: round)
      // The policy that re-scores attempts (`distill.teacher`, `TeacherSelection`). A served
      // model does not change within a run, so it is its own teacher.
      let scorer: Policy
      if let embedded = policy as? EmbeddedPolicy {
        let teacher = try TeacherSelection.teacher(run: run, round: round, current: embedded.model)
        scorer = teacher === embedded.model ? policy : EmbeddedPolicy(model: teacher)
      } else {
        scorer = policy
      }
      let notes = run.spec.rewrite.memory ? try MemoryNoteSource.open(run: run, round: round) : nil
      try RewriteStage(run: run, tasks: tasks, notes: notes).execute(
        round: round, policy: policy, scorer: scorer)
    case .memory:
      try MemoryStage(run: run, tasks: tasks).execute(round: round)
    case .distill:
      if run.spec.policy.backend == .openai {
        throw HindcastError(
          .invalidConfig,
          "the distill stage trains the embedded model; this spec's [policy] backend is \"openai\"",
          location: run.layout.spec,
          hint:
            "export the round (hindcast export --format trl-sdpo|sft|verl) and train with TRL or verl (docs/llm.md)"
        )
      }
      try DistillStage(run: run, tasks: tasks).execute(round: round, model: try store.load(round: round))
    case .eval:
      try EvalStage(run: run, tasks: tasks).execute(
        round: round, policy: try stagePolicy(stage, round: round))
    }
  }

  /// The policy a stage samples from: the round's embedded checkpoint, or the spec's server
  /// (`[policy] backend = "openai"`, probed once per call).
  public func policy(_ stage: StageName, round: Int) throws -> Policy {
    switch run.spec.policy.backend {
    case .embedded: return EmbeddedPolicy(model: try store.load(round: round))
    case .openai:
      return try RemotePolicy(
        settings: run.spec.policy, stage: stage.rawValue, fallbackContext: run.spec.model.config.contextLength
      )
    }
  }

  /// Records this process's OpenBLAS kernels in the manifest the first time a stage runs, and
  /// says so when a later process runs on other kernels (its results can differ in the last bits
  /// from an uninterrupted run's). A read-only run records nothing.
  func checkBLASCore() throws {
    guard !run.readOnly else { return }
    let core = BLASCore.description
    let recorded = try run.withManifest { manifest -> String? in
      if manifest.blasCore == nil { manifest.blasCore = core }
      return manifest.blasCore
    }
    if let recorded, recorded != core {
      run.reporter.notice(
        "note: this run started on OpenBLAS kernels \(recorded); this process uses \(core), so its "
          + "results can differ from an uninterrupted run's (docs/determinism.md)")
    }
  }

  /// `policy(stage, round:)` for running `stage`: a served policy is recorded in the manifest
  /// (`RunManifest.policies`) under the stage's key.
  func stagePolicy(_ stage: StageName, round: Int) throws -> Policy {
    let policy = try policy(stage, round: round)
    if let served = policy.servedBy {
      let key = RunManifest.stageKey(round: round, stage: stage)
      try run.withManifest { manifest in
        if manifest.policies?[key] != served {
          manifest.policies = (manifest.policies ?? [:]).merging([key: served]) { $1 }
        }
      }
    }
    return policy
  }

  /// Pretrains if needed, then every round: eval of the round's policy, rollout, feedback,
  /// rewrite, memory, distill; and a final eval of the last policy. Returns the eval summaries.
  ///
  /// With a served policy (`[policy] backend = "openai"`) there is nothing to pretrain and the
  /// model cannot change within the run: `runServed` runs round 0's stages and stops.
  @discardableResult
  public func runAll() throws -> [EvalSummary] {
    if run.spec.policy.backend == .openai { return try runServed() }
    try pretrain()
    var summaries: [EvalSummary] = []
    // The evals of the policy in force and of the best one so far: after a rollback the in-force
    // eval is the restored policy's, so a later round is compared with the policy it started from.
    var guardState: GuardState?
    for round in 0...run.spec.rounds {
      try stage(.eval, round: round)
      if let summary = try EvalStage.summary(run: run, round: round) {
        guardState = try guardRound(round, state: guardState, current: summary)
        summaries.append(summary)
      }
      try RoundGap(run: run, tasks: tasks).recordIfEnabled(round: round)
      guard round < run.spec.rounds else { break }
      for name in [StageName.rollout, .feedback, .rewrite, .memory, .distill] where needed(name) {
        try stage(name, round: round)
      }
    }
    return summaries
  }

  /// `run` with a served policy: no pretraining (the server's model is the base policy), then
  /// round 0's eval, rollout, feedback, rewrite and memory; distillation is done outside Hindcast
  /// (`hindcast export`, then TRL or verl), so the run stops there and says so. A later round
  /// needs the trained model served and a new run pointed at it.
  func runServed() throws -> [EvalSummary] {
    try stage(.eval, round: 0)
    let summaries = try EvalStage.summary(run: run, round: 0).map { [$0] } ?? []
    guard run.spec.rounds > 0 else { return summaries }
    for name in [StageName.rollout, .feedback, .rewrite, .memory] where needed(name) {
      try stage(name, round: 0)
    }
    run.reporter.notice(
      "run: round 0 is complete through the served policy (no pretraining: the server's model is the base). "
        + "Train outside Hindcast: `hindcast export --run \(run.layout.root) --round 0 --format sft|trl-sdpo|verl|teacher-logprobs`, "
        + "then serve the trained weights and start a new run against them (docs/llm.md)")
    return summaries
  }

  /// Applies the guard to `round` and returns its state afterwards (`GuardState`). With
  /// `guard.reference = "previous"` the new policy is compared with the policy in force and a
  /// rollback restores the previous round's checkpoint (which holds that policy); with `"best"` it
  /// is compared with the best policy in force so far, which a rollback restores. Comparing with
  /// the policy in force (not with the previous eval, which describes a rejected policy after a
  /// rollback) keeps a run of small losses after a rollback from passing unnoticed.
  func guardRound(_ round: Int, state: GuardState?, current: EvalSummary) throws -> GuardState {
    guard let state else { return GuardState(first: current, round: round) }
    let reference = run.spec.guardReference
    let (eval, source) = state.reference(at: round, reference)
    let rolledBack = try guardAgainstCollapse(
      round: round, previous: eval, current: current, restoring: source)
    return state.after(round: round, current: current, rolledBack: rolledBack, reference: reference)
  }

  /// The collapse guard: when the policy that starts `round` (just distilled) is worse on
  /// **validation** greedy pass@1 than `previous` by more than `guard.rollback_margin`, it is
  /// replaced by the policy of round `source` (default: the previous round), with its EMA teacher
  /// and memory snapshot pointer (`restoreWholeRound`), and the rollback is recorded in the
  /// manifest and metrics. The eval of `round` keeps describing the rejected policy. Idempotent,
  /// so resuming repeats it exactly. Returns whether `round`'s policy is (now or already) rolled
  /// back.
  @discardableResult
  func guardAgainstCollapse(
    round: Int, previous: EvalSummary, current: EvalSummary, restoring source: Int? = nil
  ) throws -> Bool {
    // Decided on validation only: the test split is reported, never used to choose.
    let before = previous.validation.greedyPass1
    let after = current.validation.greedyPass1
    guard before - after > run.spec.rollbackMargin else { return false }
    if try run.manifest().rollbacks.contains(round) { return true }
    let source = source ?? round - 1
    try restoreWholeRound(round, from: source)
    var event = MetricsEvent(stage: "guard", round: round, worker: run.worker.index)
    event.values = [
      "rolled_back": 1, "previous_validation_greedy_pass1": before, "validation_greedy_pass1": after,
      "restored_round": Double(source),
    ]
    try run.record(event)
    run.reporter.notice(
      String(
        format:
          "guard: round %d policy fell from %.1f%% to %.1f%% validation greedy pass@1; rolled back to round %d's policy",
        round, 100 * before, 100 * after, source))
    return true
  }

  /// Whether the spec's objectives need a stage at all (GRPO and RFT need no teacher).
  func needed(_ stage: StageName) -> Bool {
    let teacher = ObjectiveRegistry.needs(run.spec.distill).contains(.rewrites)
    switch stage {
    case .rewrite: return teacher
    case .memory: return teacher && run.spec.rewrite.memory
    default: return true
    }
  }
}
