// Parsing helpers for the tests: parse-and-check with the rendered diagnostics in the failure
// message, syntax-only parsing, and the diagnostics of a source that should fail.

import HeapWorkload
import XCTest

/// `source` parsed and checked; on errors the test fails with them rendered, and this is nil.
func checkedProgram(_ source: String, file: StaticString = #filePath, line: UInt = #line) -> CheckedProgram? {
    do {
        return try Program.parse(source: source, fileName: "test.hw")
    } catch {
        XCTFail("expected no errors, got:\n\(error.rendered())", file: file, line: line)
        return nil
    }
}

/// The dump of `source` parsed without checking; on errors the test fails and this is "".
func syntaxDump(_ source: String, file: StaticString = #filePath, line: UInt = #line) -> String {
    do {
        return SyntaxDump.dump(try Program.parseSyntax(source: source, fileName: "test.hw"))
    } catch {
        XCTFail("expected no syntax errors, got:\n\(error.rendered())", file: file, line: line)
        return ""
    }
}

/// The dump of `source` parsed and checked ("" after a failure).
func checkedDump(_ source: String, file: StaticString = #filePath, line: UInt = #line) -> String {
    checkedProgram(source, file: file, line: line).map { SyntaxDump.dump($0.program) } ?? ""
}

/// The diagnostics of `source` (parse and check); the test fails when there are none.
func diagnostics(_ source: String, file: StaticString = #filePath, line: UInt = #line) -> DiagnosticList? {
    do {
        _ = try Program.parse(source: source, fileName: "test.hw")
        XCTFail("expected errors, got none", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

/// Wraps statements in a main block.
func inMain(_ statements: String) -> String {
    "main {\n\(statements)\n}\n"
}
