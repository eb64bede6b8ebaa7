import ArgumentParser
import Foundation
import HindcastKernels
import HindcastModel
import HindcastServe
import HindcastSupport
import HindcastTraining

/// `hindcast serve`: a checkpoint behind an OpenAI-compatible API on loopback.
struct ServeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract: "Serve a policy checkpoint through an OpenAI-compatible API subset.",
    discussion: """
      Routes: GET /health, GET /v1/models, POST /v1/completions (n, temperature, top_p, top_k, \
      max_tokens, stop, seed, logprobs, echo, prompt_logprobs), POST /tokenize, POST /detokenize. \
      Prompts are text with segment markers written literally ('<task>47+85<answer>') or token \
      ids. Choice i*n+j is sample j of prompt i with seed derive(seed, [i, j]), the same as \
      `hindcast sample --seed`. Listens on 127.0.0.1 unless --host says otherwise; prints \
      'listening on http://HOST:PORT' once ready. Stop with Ctrl-C.
      """)

  @Option(help: ArgumentHelp("Checkpoint directory (config.json and model.safetensors).", valueName: "dir"))
  var checkpoint: String

  @Option(help: "IPv4 address to listen on; the default serves loopback only.")
  var host = "127.0.0.1"

  @Option(help: "Port; 0 picks a free one (printed at start).")
  var port: Int = 8000

  @Option(
    name: .customLong("model-name"), help: "The model id /v1/models reports (default: the checkpoint's name)."
  )
  var modelName: String?

  @Option(help: "Requests read and answered at once (the model itself runs one request at a time).")
  var concurrency: Int = 4

  @Option(
    name: .customLong("max-queued"), help: "Connections waiting beyond that before the server answers 503.")
  var maxQueued: Int = 64

  @Option(help: "OpenBLAS threads.")
  var threads: Int = 1

  func validate() throws {
    guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
    guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
    guard maxQueued >= 1 else { throw ValidationError("--max-queued must be at least 1") }
  }

  func run() throws {
    BLASThreads.set(threads)
    let weights = try CheckpointIO.readWeights(checkpoint)
    let model = try Transformer(config: weights.config, parameters: weights.parameters)
    let name = modelName ?? URL(fileURLWithPath: checkpoint).standardized.lastPathComponent
    let service = CompletionService(model: model, modelName: name)
    let server = try HTTPServer(
      host: host, port: UInt16(port), concurrency: concurrency, maxQueued: maxQueued,
      handler: { service.handle($0) })
    server.start()
    print("listening on http://\(host):\(server.port) (model '\(name)')")
    fflush(stdout)
    while true { sleep(3600) }
  }
}
