import HindcastPipeline
import HindcastSupport

/// The `HindcastError` the spec reader throws for `text` (read as `spec.toml`), or nil when the
/// text parses (or fails with another error type, which the callers' expectations then report).
func specReadError(_ text: String) -> HindcastError? {
  do {
    _ = try PipelineSpec.parse(text: text, source: "spec.toml")
    return nil
  } catch let error as HindcastError {
    return error
  } catch {
    return nil
  }
}
