// What the tests share: the reproducers in Regressions/ (read through #filePath), and
// `heapfuzz` run in a child process from the build folder the tests run from, for what may
// crash or hang (a known bug then ends the child, not the test process).

import Foundation
import Testing

private let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

/// Tests/HeapFuzzTests/Regressions/*.hw, sorted by name.
func regressionFiles() -> [URL] {
    let directory = root.appendingPathComponent("Regressions")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter { $0.hasSuffix(".hw") }.sorted().map { directory.appendingPathComponent($0) }
}

/// How a child heapfuzz ended.
struct ChildRun {
    /// Killed by a signal (a crash), not exited.
    let crashed: Bool
    let status: Int32
    /// Its standard output: the summary, findings, a HANG line.
    let output: String

    var passed: Bool { !crashed && status == 0 }
}

/// Runs heapfuzz with `arguments`; nil (and an issue recorded) when it is not built next to the
/// test bundle.
func runHeapfuzz(_ arguments: [String], killAfter seconds: Int? = nil) throws -> ChildRun? {
    let heapfuzz = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("heapfuzz")
    guard FileManager.default.isExecutableFile(atPath: heapfuzz.path) else {
        Issue.record("heapfuzz is not built next to the test bundle (\(heapfuzz.path)): swift build --build-tests builds it")
        return nil
    }
    let process = Process()
    process.executableURL = heapfuzz
    process.arguments = arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    // No backtrace: a crash under test should end at once.
    process.environment = ["SWIFT_BACKTRACE": "enable=no"]
    try process.run()
    // A guard against a child that never ends, not a timing: the test fails instead of hanging.
    if let seconds {
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(seconds)) { [process] in
            if process.isRunning { process.terminate() }
        }
    }
    let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return ChildRun(crashed: process.terminationReason == .uncaughtSignal, status: process.terminationStatus, output: printed)
}
