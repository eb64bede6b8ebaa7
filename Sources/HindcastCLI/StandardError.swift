#if canImport(Glibc)
  import Glibc
#endif

/// Writes diagnostics to standard error without buffering, so progress lines and errors appear
/// immediately and never mix into standard output (which scripts parse).
enum StandardError {
  static func write(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { buffer in
      var offset = 0
      while offset < buffer.count {
        let written = Glibc.write(2, buffer.baseAddress! + offset, buffer.count - offset)
        if written <= 0 { return }
        offset += written
      }
    }
  }
}
