import HindcastPipeline
import HindcastSupport
import Testing

/// The `[policy]` table: a served model chosen in the spec, with file/line/key errors.
@Suite struct PolicySpecTests {
  @Test func readsTheOpenAIBackend() throws {
    let spec = try PipelineSpec.parse(
      text: """
        [policy]
        backend = "openai"
        base_url = "http://127.0.0.1:8080/v1"
        model = "smollm2"
        api_key_env = "HINDCAST_KEY"
        concurrency = 2
        timeout_seconds = 30
        max_retries = 7
        backoff_seconds = 1.5
        """, source: "spec.toml")
    #expect(spec.policy.backend == .openai && spec.policy.baseURL == "http://127.0.0.1:8080/v1")
    #expect(spec.policy.model == "smollm2" && spec.policy.apiKeyEnv == "HINDCAST_KEY")
    #expect(spec.policy.concurrency == 2 && spec.policy.timeoutSeconds == 30)
    #expect(spec.policy.maxRetries == 7 && spec.policy.backoffSeconds == 1.5)
    #expect(try PipelineSpec.parse(text: "", source: "spec.toml").policy.backend == .embedded)
  }

  @Test func rejectsBadPolicyKeysWithLineAndKey() {
    let missing = specReadError("[policy]\nbackend = \"openai\"\n")
    #expect(missing?.location == "spec.toml:2" && missing?.message.contains("policy.base_url") == true)
    let notURL = specReadError("[policy]\nbackend = \"openai\"\nbase_url = \"localhost:8080\"\n")
    #expect(notURL?.location == "spec.toml:3" && notURL?.message.contains("'policy.base_url'") == true)
    let backend = specReadError("[policy]\nbackend = \"vllm\"\n")
    #expect(backend?.message.contains("'embedded', 'openai'") == true)
    let concurrency = specReadError(
      "[policy]\nbackend = \"openai\"\nbase_url = \"http://h/v1\"\nconcurrency = 0\n")
    #expect(
      concurrency?.location == "spec.toml:4" && concurrency?.message.contains("policy.concurrency") == true)
    let stray = specReadError("[policy]\nbase_url = \"http://h/v1\"\n")
    #expect(stray?.message.contains("only used with policy.backend") == true)
    let typo = specReadError("[policy]\nbackend = \"openai\"\nbase_url = \"http://h/v1\"\ntimeout = 3\n")
    #expect(typo?.message.contains("unknown key 'policy.timeout'") == true)
  }
}
