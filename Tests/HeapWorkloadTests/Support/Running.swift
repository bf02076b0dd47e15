// Running helpers for the interpreter tests: parse, check and run a source, and hold every run
// to the run's promise that it releases everything it made (`leaked == 0`), whether it ended
// well or not. Runs collect manually unless a test asks for the collector thread, so that what
// the collector finds is what the program's own gc.collect() calls find.
//
// A program that crashes the process (a known bug under test) runs in a child process instead:
// `heapctl run --embedded`, from the build folder the tests run from.

import Foundation
import HeapCore
import HeapWorkload
import XCTest

/// The configuration of a test run: the defaults, but collection only by gc.collect().
func testConfiguration() -> RunConfiguration {
    var configuration = RunConfiguration()
    configuration.collector = .manual
    return configuration
}

/// Runs `source` (which must check) and asserts that nothing leaked.
@discardableResult
func runProgram(_ source: String, file: StaticString = #filePath, line: UInt = #line,
                _ configure: (inout RunConfiguration) -> Void = { _ in }) throws -> RunResult {
    var configuration = testConfiguration()
    configure(&configuration)
    let checked: CheckedProgram
    do {
        checked = try Program.parse(source: source, fileName: "test.hw")
    } catch {
        XCTFail("expected no errors, got:\n\(error.rendered())", file: file, line: line)
        throw error
    }
    let result = try Workload.run(checked, configuration: configuration)
    XCTAssertEqual(result.leaked, 0, "the run leaked objects (error: \(result.error.map(String.init(describing:)) ?? "none"))",
                   file: file, line: line)
    XCTAssertEqual(result.heapProblems, [], "the heap verifier after the run", file: file, line: line)
    return result
}

/// The output of a run that must end well.
func output(of source: String, file: StaticString = #filePath, line: UInt = #line,
            _ configure: (inout RunConfiguration) -> Void = { _ in }) throws -> [String] {
    let result = try runProgram(source, file: file, line: line, configure)
    XCTAssertTrue(result.ok, "the run failed: \(result.error.map(String.init(describing:)) ?? "")", file: file, line: line)
    return result.output
}

/// The error of a run that must fail (nil, and the test fails, when it ended well).
func failure(of source: String, file: StaticString = #filePath, line: UInt = #line,
             _ configure: (inout RunConfiguration) -> Void = { _ in }) throws -> RunError? {
    let result = try runProgram(source, file: file, line: line, configure)
    XCTAssertFalse(result.ok, "the run should have failed; output: \(result.output)", file: file, line: line)
    XCTAssertEqual(result.ok, result.error == nil, file: file, line: line)
    return result.error
}

/// The code of the error of a run that must fail.
func errorCode(of source: String, file: StaticString = #filePath, line: UInt = #line,
               _ configure: (inout RunConfiguration) -> Void = { _ in }) throws -> RunErrorCode? {
    try failure(of: source, file: file, line: line, configure)?.code
}

/// How a child `heapctl run --embedded` of a source ended.
struct ChildRun {
    /// Killed by a signal (a crash), not exited.
    let crashed: Bool
    let status: Int32
    /// Its standard output: what the program printed.
    let output: String
}

/// Runs `source` with `heapctl run --embedded` in a child process; skips the test when heapctl
/// is not built next to the test bundle.
func runInChildProcess(_ source: String, arguments: [String] = []) throws -> ChildRun {
    let heapctl = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        .deletingLastPathComponent().appendingPathComponent("heapctl")
    guard FileManager.default.isExecutableFile(atPath: heapctl.path) else {
        throw XCTSkip("heapctl is not built next to the test bundle (\(heapctl.path))")
    }
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("heapd-test-\(getpid())-\(UUID().uuidString).hw")
    try source.write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let process = Process()
    process.executableURL = heapctl
    process.arguments = ["run", "--embedded", file.path] + arguments
    let stdout = Pipe()
    process.standardOutput = stdout
    process.standardError = FileHandle.nullDevice
    // No backtrace: a crash under test should end at once.
    process.environment = ["SWIFT_BACKTRACE": "enable=no"]
    try process.run()
    let printed = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return ChildRun(crashed: process.terminationReason == .uncaughtSignal, status: process.terminationStatus, output: printed)
}
