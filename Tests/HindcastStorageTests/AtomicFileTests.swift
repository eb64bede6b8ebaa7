import Foundation
import HindcastStorage
import HindcastSupport
import Testing

@Suite(.temporaryFiles) struct AtomicFileTests {
  @Test func replacesContentAndReportsUnusableDirectories() throws {
    let directory = try makeTemporaryDirectory()
    let path = directory + "/a/b/file.txt"
    try AtomicFile.write(text: "one", to: path)
    try AtomicFile.write(text: "two", to: path)
    #expect(try AtomicFile.read(path) == Array("two".utf8))
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/a/b") == ["file.txt"])
    expectHindcastError(.ioFailure, mentioning: [path]) {
      try AtomicFile.write(text: "x", to: path + "/inside")
    }
    #expect(try AtomicFile.read(path) == Array("two".utf8))
  }
}
