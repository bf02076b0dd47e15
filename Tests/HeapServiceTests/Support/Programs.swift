// Running a program to its end from a test (scripts, systemd-analyze, strace, heapctl), and the
// system tools some tests need: a test whose tool is missing is skipped with a reason that names
// it (`.enabled(if: Tool.x != nil, Tool.missing("x"))`), never passed silently.

import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// How a program ended, with what it wrote.
struct Finished {
    var status: Int32
    var output: String
    var errors: String
}

/// Runs `executable` with `arguments` (and `environment` added to this process's) to its end.
/// Its output and errors go to files, so that neither can fill a pipe and stall it.
func runToEnd(_ executable: String, _ arguments: [String], environment: [String: String] = [:], input: String? = nil,
              directory: String? = nil) throws -> Finished {
    let scratch = NSTemporaryDirectory() + "heapd-run-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    _ = FileManager.default.createFile(atPath: scratch + "/out", contents: nil)
    _ = FileManager.default.createFile(atPath: scratch + "/err", contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let output = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch + "/out"))
    let errors = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch + "/err"))
    process.standardOutput = output
    process.standardError = errors
    let feed = Pipe()
    process.standardInput = feed
    try process.run()
    if let input { feed.fileHandleForWriting.write(Data(input.utf8)) }
    try feed.fileHandleForWriting.close()
    process.waitUntilExit()
    try output.close()
    try errors.close()
    return Finished(status: process.terminationStatus,
                    output: try String(contentsOfFile: scratch + "/out", encoding: .utf8),
                    errors: try String(contentsOfFile: scratch + "/err", encoding: .utf8))
}

/// The system tools of the service's tests, where this machine has them.
enum Tool {
    static let systemdAnalyze = find("systemd-analyze")
    static let strace = find("strace")
    static let python3 = find("python3")
    static let bash = find("bash")

    /// The path of `name` in /usr/bin, /bin or $PATH.
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return (["/usr/bin", "/bin"] + path.split(separator: ":").map(String.init))
            .map { $0 + "/" + name }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Why a test was skipped: which tool, and where it comes from.
    static func missing(_ name: String, package: String) -> Comment {
        Comment(rawValue: "\(name) is not installed on this machine, so this check did not run: `apt-get install \(package)` to run it")
    }
}

/// The repository's root (this file is Tests/HeapServiceTests/Support/Programs.swift).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()

/// A fresh directory under the temporary directory, for one test.
func scratchDirectory(_ name: String) throws -> String {
    let path = NSTemporaryDirectory() + "heapd-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
