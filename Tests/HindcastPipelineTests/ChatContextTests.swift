import Foundation
import HindcastModel
import HindcastPipeline
import HindcastRemote
import HindcastServe
import HindcastSupport
import Logging
import Testing

/// Chat contexts (`[policy] context = "chat"`) through `hindcast serve`'s `/apply-template`,
/// `/tokenize` and `/detokenize`: the real client code path, against a server whose template and
/// tokenizer are known, so every rendered token can be checked.
@Suite struct ChatContextTests {
  /// A tiny embedded model behind an in-process server.
  final class Served {
    let model: Transformer
    let server: HTTPServer

    /// `likeVLLM`: the server has no `/apply-template` (a 404, as vLLM answers), so clients
    /// must render through `/tokenize` with `messages`.
    init(context: Int, likeVLLM: Bool = false) throws {
      model = try Transformer(
        config: ModelConfig(contextLength: context, layers: 1, width: 16, heads: 2, positionEncoding: .rope),
        seed: 3)
      let service = CompletionService(model: model, modelName: "chat-test")
      server = try HTTPServer(
        port: 0, concurrency: 2,
        handler: { request in
          likeVLLM && request.path == "/apply-template"
            ? .error(404, "Not Found") : service.handle(request)
        })
      server.start()
    }

    deinit { server.stop() }

    func settings(system: String? = nil, instruction: String = "") -> PipelineSpec.PolicyBackend {
      var settings = PipelineSpec.PolicyBackend()
      settings.backend = .openai
      settings.baseURL = "http://127.0.0.1:\(server.port)/v1"
      settings.context = .chat
      settings.system = system
      settings.instruction = instruction
      settings.maxRetries = 1
      settings.backoffSeconds = 0.01
      return settings
    }
  }

  @Test func contextsAreRenderedByTheServersTemplateAndCountedByItsTokenizer() throws {
    let served = try Served(context: 256)
    let policy = try RemotePolicy(settings: served.settings(), stage: "test", fallbackContext: 32)
    let chat = try #require(policy.chatContexts)
    // Found from a rendered conversation, not configured: hindcast serve closes turns with <end>.
    #expect(chat.renderer.endOfTurn == Tokenizer.Special.end.rawValue)
    #expect(policy.servedBy?.hasPrefix("openai hindcast model=chat-test") == true)
    #expect(policy.servedBy?.hasSuffix("contexts=chat(apply-template)") == true)

    let builder = ContextBuilder(policy: policy, reserve: 32)
    #expect(builder.chat != nil && !builder.alignsAnswer)
    // The student's chat context is the embedded student context: `<task>TASK<answer>`.
    #expect(try builder.studentPrompt(task: "47+85") == Tokenizer.encodeMarked("<task>47+85<answer>"))

    // The teacher's privileged context goes into the user turn; the limit is 256 - 32 = 224
    // tokens, so of two 60-byte notes only the first fits.
    let noteA = String(repeating: "a", count: 60)
    let noteB = String(repeating: "b", count: 60)
    let hindsight = ContextBuilder.Hindsight(
      attempt: "131", feedback: "the ones digit is wrong", critique: "carry the one", notes: [noteA, noteB])
    let teacher = try builder.teacherPrompt(task: "47+85", hindsight: hindsight)
    let expected =
      "<task>47+85\n\nYour previous attempt:\n131\n\nFeedback on it:\nthe ones digit is wrong"
      + "\n\nCritique:\ncarry the one\n\nNotes:\n- \(noteA)\n\nAnswer the task again.<answer>"
    #expect(teacher.notesKept == 1)
    #expect(teacher.tokens == Tokenizer.encodeMarked(expected))
    #expect(teacher.tokens.count <= 224)
    #expect(try builder.contextText(teacher.tokens) == expected)

    // A system message and an instruction, as `[policy] system` and `instruction` give them.
    let instructed = try RemotePolicy(
      settings: served.settings(system: "Be brief.", instruction: "Compute: "), stage: "test",
      fallbackContext: 32)
    #expect(
      try ContextBuilder(policy: instructed, reserve: 32).studentPrompt(task: "47+85")
        == Tokenizer.encodeMarked("<task>Be brief.\n\nCompute: 47+85<answer>"))

    // Answers: the text and the end-of-turn token; decoding stops at the end of the turn.
    #expect(try builder.answerTokens("132") == Tokenizer.encode("132") + [Tokenizer.Special.end.rawValue])
    #expect(
      try builder.answerText(
        Tokenizer.encode("132") + [Tokenizer.Special.end.rawValue] + Tokenizer.encode("9"))
        == "132")

    // Sampling from a chat context: the decoded answer is the server's text of the tokens before <end>.
    let prompts = [try builder.studentPrompt(task: "12+7"), teacher.tokens]
    let generations = try policy.generate(
      prompts: prompts, settings: SamplingSettings(temperature: 1, maxNewTokens: 12), seeds: [1, 2])
    for generation in generations {
      let cut = generation.tokens.firstIndex(of: Tokenizer.Special.end.rawValue) ?? generation.tokens.count
      #expect(try builder.answerText(generation.tokens) == Tokenizer.decode(Array(generation.tokens[..<cut])))
    }
  }

  @Test func serversWithoutApplyTemplateRenderThroughTokenizeWithMessages() throws {
    let llamaLike = try Served(context: 256)
    let vllmLike = try Served(context: 256, likeVLLM: true)
    let reference = try RemotePolicy(settings: llamaLike.settings(), stage: "test", fallbackContext: 32)
    let policy = try RemotePolicy(
      settings: vllmLike.settings(system: "Be brief."), stage: "test", fallbackContext: 32)
    let chat = try #require(policy.chatContexts)
    #expect(chat.renderer.route == .tokenizeMessages)
    #expect(try #require(reference.chatContexts).renderer.route == .applyTemplate)
    #expect(chat.renderer.endOfTurn == Tokenizer.Special.end.rawValue)
    #expect(policy.servedBy?.hasSuffix("contexts=chat(tokenize-messages)") == true)
    let builder = ContextBuilder(policy: policy, reserve: 32)
    #expect(
      try builder.studentPrompt(task: "47+85") == Tokenizer.encodeMarked("<task>Be brief.\n\n47+85<answer>"))
    let hindsight = ContextBuilder.Hindsight(
      attempt: "131", feedback: "the ones digit is wrong", critique: "carry the one", notes: ["n"])
    // The same tokens as the apply-template route renders.
    let referenceBuilder = ContextBuilder(
      policy: try RemotePolicy(
        settings: llamaLike.settings(system: "Be brief."), stage: "test", fallbackContext: 32),
      reserve: 32)
    let teacher = try builder.teacherPrompt(task: "47+85", hindsight: hindsight)
    #expect(
      teacher.tokens == (try referenceBuilder.teacherPrompt(task: "47+85", hindsight: hindsight)).tokens)
    #expect(
      try builder.contextText(teacher.tokens).hasPrefix("<task>Be brief.\n\n47+85\n\nYour previous attempt:"))
  }

  @Test func aServerThatRendersNoTemplateIsRefusedWithBothRoutesNamed() throws {
    let bare = try HTTPServer(
      port: 0, concurrency: 1,
      handler: { request in
        switch request.path {
        case "/health": return .json(["status": "ok"])
        case "/v1/models": return .json(["object": "list", "data": [["id": "plain", "object": "model"]]])
        default: return .error(404, "Not Found")
        }
      })
    bare.start()
    defer { bare.stop() }
    var settings = PipelineSpec.PolicyBackend()
    settings.backend = .openai
    settings.baseURL = "http://127.0.0.1:\(bare.port)/v1"
    settings.context = .chat
    settings.maxRetries = 1
    settings.backoffSeconds = 0.01
    do {
      _ = try RemotePolicy(settings: settings, stage: "test", fallbackContext: 32)
      Issue.record("a server without a template route was accepted")
    } catch let error as HindcastError {
      #expect(error.description.contains("neither /apply-template nor /tokenize with messages"))
    }
  }

  @Test func aTeacherContextThatCannotFitIsShortenedNotesFirstThenCritiqueThenFeedback() throws {
    let served = try Served(context: 128)
    let policy = try RemotePolicy(settings: served.settings(), stage: "test", fallbackContext: 32)
    let builder = ContextBuilder(policy: policy, reserve: 16)
    let hindsight = ContextBuilder.Hindsight(
      attempt: "131", feedback: String(repeating: "f", count: 80), critique: "carry the one", notes: ["n"])
    let teacher = try builder.teacherPrompt(task: "47+85", hindsight: hindsight)
    #expect(teacher.notesKept == 0)
    #expect(teacher.tokens.count == 112)
    let text = try builder.contextText(teacher.tokens)
    #expect(!text.contains("Critique:") && !text.contains("Notes:"))
    #expect(text.hasPrefix("<task>47+85\n\nYour previous attempt:\n131\n\nFeedback on it:\nfff"))
  }

  @Test func chatKeysAreCheckedInTheSpec() throws {
    let base = "name = \"t\"\n[tasks]\nfamily = \"arith\"\n[policy]\n"
    for (body, key) in [
      ("context = \"chat\"\n", "policy.context"),
      ("system = \"x\"\n", "policy.system"),
      (
        "backend = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\ninstruction = \"x\"\n",
        "policy.instruction"
      ),
      ("backend = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\ncontext = \"jinja\"\n", "policy.context"),
    ] {
      let directory = try BinaryRunner.temporaryDirectory("chatspec")
      defer { try? FileManager.default.removeItem(atPath: directory) }
      let path = directory + "/spec.toml"
      try (base + body).write(toFile: path, atomically: true, encoding: .utf8)
      #expect {
        _ = try PipelineSpec.load(path: path)
      } throws: { error in
        "\(error)".contains(key)
      }
    }
    let directory = try BinaryRunner.temporaryDirectory("chatspec")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = directory + "/spec.toml"
    try
      (base
      + "backend = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\ncontext = \"chat\"\nsystem = \"s\"\ninstruction = \"i \"\n")
      .write(toFile: path, atomically: true, encoding: .utf8)
    let spec = try PipelineSpec.load(path: path)
    #expect(spec.policy.context == .chat && spec.policy.system == "s" && spec.policy.instruction == "i ")
  }

  /// `hindcast run` on a served chat policy: no pretraining, round 0's stages through the server,
  /// the policy named in every record and in the manifest, retries in the ledger, and an export
  /// whose prompts are conversations.
  @Test func runThroughAServedChatPolicy() throws {
    let directory = try BinaryRunner.temporaryDirectory("chatrun")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let runner = BinaryRunner(directory: directory)
    try RemoteRoundTests.pretrained(runner)
    let server = try ServeProcess(checkpoint: "base/policy/round-0000", directory: directory)
    let spec =
      TinySpec.text.replacingOccurrences(of: "[pretrain]\nsteps = 12", with: "[pretrain]\nsteps = 1000000")
      + "\n[policy]\nbackend = \"openai\"\nbase_url = \"http://127.0.0.1:\(server.port)/v1\"\nmax_retries = 2\n"
      + "context = \"chat\"\ninstruction = \"Add: \"\n"
    try runner.write(spec, to: "chat.toml")
    let run = try runner.run(["run", "chat.toml", "--run", "chat"])
    try #require(run.status == 0, "\(run.stderr)")
    #expect(run.stderr.contains("round 0 is complete through the served policy"))
    // No pretraining (a million steps would not have finished) and no distillation.
    #expect(runner.files(under: "chat/policy").isEmpty)
    let status = try runner.run(["status", "--run", "chat"])
    #expect(
      status.stdout.contains("policy: served by http://127.0.0.1:\(server.port)/v1; trained outside Hindcast")
    )
    #expect(!status.stdout.contains("hindcast pretrain"))

    let opened = try Run(
      directory: directory + "/chat", specPath: nil, readOnly: true, logger: Logger(label: "test"))
    let manifest = try opened.manifest()
    for stage in ["eval", "rollout", "rewrite"] {
      #expect(
        manifest.policies?["r0000/\(stage)"]?.hasSuffix("contexts=chat(apply-template)") == true, "\(stage)")
    }
    #expect(try opened.isComplete(round: 0, stage: .rewrite))
    #expect(!(try opened.isComplete(round: 1, stage: .rollout)))
    let rollouts = try opened.readShard(RolloutRecord.self, round: 0, stage: .rollout, shard: 0)
    #expect(!rollouts.isEmpty && rollouts.allSatisfy { $0.policy?.contains("model=base") == true })
    let rewrites = try opened.readShard(RewriteRecord.self, round: 0, stage: .rewrite, shard: 0)
    for rewrite in rewrites {
      #expect(rewrite.policy == rollouts[0].policy)
      #expect(rewrite.teacherContext.hasPrefix("<task>Add: "))
      #expect(rewrite.teacherContext.contains("\n\nYour previous attempt:\n"))
      #expect(Tokenizer.encodeMarked(rewrite.teacherContext) == rewrite.teacherTokens)
    }
    let metrics = String(decoding: runner.contents("chat/metrics.jsonl") ?? Data(), as: UTF8.self)
    #expect(metrics.contains("\"remote_retries\""))

    let export = try runner.run([
      "export", "--run", "chat", "--round", "0", "--format", "trl-sdpo", "--out", "x",
    ])
    try #require(export.status == 0, "\(export.stderr)")
    let rows = String(decoding: runner.contents("x/trl-sdpo.jsonl") ?? Data(), as: UTF8.self)
    let first = try JSONValue(parsing: Array((rows.split(separator: "\n").first ?? "").utf8))
    #expect(first["prompt"]?[0]?["role"] == "user")
    #expect(first["prompt"]?[0]?["content"]?.stringValue?.hasPrefix("Add: ") == true)
    #expect(first["completion"]?[0]?["role"] == "assistant")
  }
}
