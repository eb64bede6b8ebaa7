import HindcastSupport

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

/// The CLI's progress reporter: on a terminal one line rewritten in place, otherwise the
/// milestone updates as plain lines; notices as lines of their own.
struct StandardErrorReporter: ProgressReporter {
  let isTerminal = isatty(2) == 1

  func progress(_ update: ProgressUpdate) {
    if isTerminal {
      StandardError.write("\r\u{1B}[K" + update.text + (update.isLast ? "\n" : ""))
    } else if update.isMilestone {
      StandardError.write(update.text + "\n")
    }
  }

  func notice(_ text: String) {
    StandardError.write((isTerminal ? "\r\u{1B}[K" : "") + text + "\n")
  }
}
