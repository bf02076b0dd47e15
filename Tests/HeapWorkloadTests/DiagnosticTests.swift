// Diagnostics: every code is produced by at least one case below, with its message and exact
// place; docs/language.md lists every code; rendering quotes the line with a caret under the
// column; recovery reports several errors from one file.

import Foundation
import HeapWorkload
import XCTest

final class DiagnosticTests: XCTestCase {
    private struct Case {
        var code: DiagnosticCode
        var source: [UInt8]
        var message: String
        var line: Int
        var column: Int

        init(_ code: DiagnosticCode, _ source: String, _ message: String, _ line: Int, _ column: Int) {
            self.init(code, Array(source.utf8), message, line, column)
        }

        init(_ code: DiagnosticCode, _ source: [UInt8], _ message: String, _ line: Int, _ column: Int) {
            (self.code, self.source, self.message, self.line, self.column) = (code, source, message, line, column)
        }
    }

    private static let nestedParens = "main { x = " + String(repeating: "(", count: 201) + "1" + String(repeating: ")", count: 201) + " }"

    private static let cases: [Case] = [
        Case(.unexpectedCharacter, "main { x = 1 @ 2 }", "unexpected character '@' (U+0040)", 1, 14),
        Case(.invalidUTF8, Array("main { }\n# caf".utf8) + [0xE9, 0x21] + Array("\n".utf8), "invalid UTF-8: byte 0xE9", 2, 6),
        Case(.unterminatedString, "main { print \"abc\n}", "unterminated string literal (strings end on the line they start)", 1, 14),
        Case(.invalidEscape, "main { print \"a\\qb\" }", "invalid escape \\ followed by 'q' (U+0071); use \\n, \\t, \\\\ or \\\"", 1, 16),
        Case(.invalidInteger, "main { x = 0x }", "'0x' must be followed by hexadecimal digits", 1, 12),
        Case(.integerTooLarge, "main { x = 99999999999999999999 }", "integer literal does not fit in 64 bits (the largest is 9223372036854775807)", 1, 12),

        Case(.unexpectedToken, "main { for i in items { } }", "expected 'range(...)' after 'in' (for loops count over a range), found identifier 'items'", 1, 17),
        Case(.expectedExpression, "main { x = * 2 }", "expected an expression, found '*'", 1, 12),
        Case(.unclosedBlock, "main { x = 1", "this '{' is never closed", 1, 6),
        Case(.nestingTooDeep, nestedParens, "nested more than 200 levels deep", 1, 211),
        Case(.chainedComparison, "main { x = a < b < c }", "comparisons do not chain; write 'a < b and b < c'", 1, 18),
        Case(.misplacedString, "main { x = \"s\" }", "a string literal may only be a print item, a phase name or an expect message", 1, 12),
        Case(.invalidAssignmentTarget, "main { f() = 1 }", "cannot assign to this expression; assign to a name, a slot (x.s) or an element (a[i])", 1, 8),
        Case(.statementWithoutEffect, "main { x == 1 }", "this comparison does nothing; to assign, write '='", 1, 10),
        Case(.missingSeparator, "main { x = 1 y = 2 }", "expected a newline or ';' after the statement, found identifier 'y'", 1, 14),
        Case(.duplicateMain, "main { }\nmain { }", "a program has one main block; the first is at 1:1", 2, 1),
        Case(.duplicateTypeItem, "type T { payload 1, payload 2 }\nmain { }", "type 'T' already has a payload", 1, 21),
        Case(.notCallable, "main { x = a.b(1) }", "only a function name can be called (there are no methods or function values)", 1, 15),
        Case(.rangeArguments, "main { for i in range() { } }", "range takes 1 to 3 arguments (stop; start, stop; or start, stop, step), but 0 were given", 1, 17),
        Case(.tooManyErrors, "main {\n" + String(repeating: "x = *\n", count: 25) + "}", "too many errors; stopped after 20", 21, 5),

        Case(.unknownName, "main { print y }", "unknown name 'y'", 1, 14),
        Case(.unknownFunction, "main { foo() }", "unknown function 'foo'", 1, 8),
        Case(.unknownType, "main { x = new Foo }", "unknown type 'Foo'", 1, 16),
        Case(.unknownSlot, "type T { a }\nmain { x = none; print x.b }", "no type has a slot named 'b'", 2, 26),
        Case(.slotNotInType, "type T { a }\nmain { x = new T; print x.b }", "type 'T' has no slot 'b'", 2, 27),
        Case(.duplicateDeclaration, "fn f() { }\nfn f() { }\nmain { }", "'f' is already declared as a function at 1:4", 2, 4),
        Case(.duplicateParameter, "fn f(a, a) { }\nmain { }", "function 'f' already has a parameter 'a' (at 1:6)", 1, 9),
        Case(.duplicateSlot, "type T { a, a }\nmain { }", "type 'T' already has a slot 'a' (at 1:10)", 1, 13),
        Case(.reservedName, "fn len(x) { }\nmain { }", "'len' is the name of a builtin and cannot be declared", 1, 4),
        Case(.missingMain, "fn f() { }", "the program has no main block", 0, 0),
        Case(.unknownGCFunction, "main { gc.collekt() }", "unknown gc function 'gc.collekt'", 1, 8),
        Case(.usedBeforeAssignment, "main { print x; x = 1 }", "'x' is used before its first assignment", 1, 14),
        Case(.tooManyTypes, (0...4096).map { "type T\($0) { }\n" }.joined() + "main { }",
             "a program declares at most 4096 types, and this one declares 4097; 'T4096' is one too many", 4097, 6),

        Case(.functionArity, "fn f(a) { }\nmain { f(1, 2) }", "'f' takes 1 argument, but 2 were given", 2, 8),
        Case(.builtinArity, "main { x = len() }", "'len' takes 1 argument, but 0 were given", 1, 12),
        Case(.assignmentToParam, "param p = 1\nmain { p = 2 }", "cannot assign to param 'p'; params are read-only (override them per run)", 2, 8),
        Case(.selfOutsideFinalizer, "main { print self }", "'self' is only defined inside a finalize block", 1, 14),
        Case(.loopControlOutsideLoop, "main { break }", "'break' outside a loop", 1, 8),
        Case(.returnValueNotAllowed, "main { return 1 }", "main cannot return a value; write 'return' alone", 1, 8),
        Case(.invalidWeakCallback, "fn cb(a, b) { }\nmain { x = new [1]; w = weak(x, cb) }",
             "the callback of weak takes one parameter (the weak reference); 'cb' takes 2", 2, 33),
        Case(.invalidSpawnTarget, "main { a = new [1]; t = spawn len(a) }", "spawn needs a function of this program; 'len' is a builtin", 1, 25),
        Case(.notAValue, "fn f() { }\nmain { x = f }", "function 'f' is not a value; call it: f(...)", 2, 12),
        Case(.builtinWithoutValue, "main { ch = channel(1); x = close(ch) }", "'close' returns nothing, so it can only be called as a statement", 1, 29),
        Case(.notAFunction, "main { x = 1; x(2) }", "'x' is a local variable, not a function", 1, 15),
        Case(.notConstant, "global g = new [1]\nmain { }", "a global's initial value must be constant: integer literals, params and operators only", 1, 12),
        Case(.constantEvaluation, "param p = 1 / 0\nmain { }", "division by zero", 1, 13),
        Case(.assignmentToDeclaration, "fn f() { }\nmain { f = 1 }", "cannot assign to function 'f'", 2, 8),
    ]

    func testEveryCodeHasACase() {
        let covered = Set(DiagnosticTests.cases.map(\.code)).union([.unknownParamOverride])
        XCTAssertEqual(Set(DiagnosticCode.allCases).subtracting(covered), [])
    }

    func testEveryCase() {
        for test in DiagnosticTests.cases {
            do {
                _ = try Program.parse(bytes: test.source, fileName: "test.hw")
                XCTFail("\(test.code.rawValue): expected an error, got none")
            } catch {
                guard let found = error.diagnostics.first(where: { $0.code == test.code }) else {
                    XCTFail("\(test.code.rawValue): not reported; got:\n\(error.rendered())")
                    continue
                }
                XCTAssertEqual(found.message, test.message, test.code.rawValue)
                XCTAssertEqual(found.location, SourceLocation(line: test.line, column: test.column), test.code.rawValue)
            }
        }
    }

    func testUnknownParamOverride() throws {
        let workload = try XCTUnwrap(checkedProgram("param depth = 3\nmain { }"))
        XCTAssertThrowsError(try workload.constants(overrides: ["dpeth": 4])) { error in
            let list = error as! DiagnosticList
            XCTAssertEqual(list.diagnostics, [Diagnostic(.unknownParamOverride, "the run sets param 'dpeth', which the program does not declare", at: .none)])
            XCTAssertEqual(list.rendered(), "test.hw: error: the run sets param 'dpeth', which the program does not declare [E501]")
        }
    }

    func testOverrideThatBreaksALaterConstant() throws {
        let workload = try XCTUnwrap(checkedProgram("param n = 2\nparam per = 100 / n\nmain { }"))
        XCTAssertThrowsError(try workload.constants(overrides: ["n": 0])) { error in
            XCTAssertEqual((error as! DiagnosticList).diagnostics, [Diagnostic(.constantEvaluation, "division by zero", at: SourceLocation(line: 2, column: 17))])
        }
    }

    /// Whether a list is the lexer's or parser's (parse_error in heapd) or the checker's
    /// (check_error): E299, which ends a long list of either, decides nothing.
    func testSyntaxErrorsAreToldFromCheckerErrorsHoweverMany() {
        func list(_ source: String) -> DiagnosticList? {
            do throws(DiagnosticList) {
                _ = try Program.parse(source: source, fileName: "t.hw")
                return nil
            } catch {
                return error
            }
        }
        XCTAssertEqual(list("main { x = }")?.isSyntaxError, true)
        XCTAssertEqual(list("main { x = @ }")?.isSyntaxError, true)
        XCTAssertEqual(list("main {\n" + String(repeating: "x = \n", count: 50) + "}")?.isSyntaxError, true)
        XCTAssertEqual(list("main { print nowhere }")?.isSyntaxError, false)
        let many = list("main {\n" + (0..<25).map { "print unknown\($0)" }.joined(separator: "\n") + "\n}")
        XCTAssertEqual(many?.diagnostics.last?.code, .tooManyErrors)
        XCTAssertEqual(many?.isSyntaxError, false)
        XCTAssertTrue(DiagnosticCode.allCases.filter(\.isSyntax).allSatisfy { $0.rawValue < "E300" && $0 != .tooManyErrors })
    }

    func testDocsListEveryCode() throws {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/language.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        for code in DiagnosticCode.allCases {
            XCTAssertTrue(text.contains("| \(code.rawValue) |"), "docs/language.md does not list \(code.rawValue)")
        }
    }

    // MARK: Rendering

    func testRenderingQuotesTheLineWithACaret() {
        let list = diagnostics("main {\n\tx = 1\n\tprint x + yy\n}")
        XCTAssertEqual(list?.rendered(), """
            test.hw:3:12: error: unknown name 'yy' [E301]
            \tprint x + yy
            \t          ^
            """)
    }

    func testCaretCountsScalarsAndInvalidBytes() throws {
        let source = Array("main { }  # \"é€\" ".utf8) + [0xFF] + Array("!\n".utf8)
        XCTAssertThrowsError(try Program.parse(bytes: source, fileName: "odd.hw")) { error in
            XCTAssertEqual((error as! DiagnosticList).rendered(), """
                odd.hw:1:18: error: invalid UTF-8: byte 0xFF [E102]
                main { }  # "é€" \u{FFFD}!
                                 ^
                """)
        }
    }

    func testLongLinesAreCutAroundTheCaret() {
        let list = diagnostics("main { x = " + String(repeating: "1 + ", count: 60) + "yy" + String(repeating: " + 1", count: 60) + " }")
        let lines = list?.rendered().split(separator: "\n", omittingEmptySubsequences: false) ?? []
        XCTAssertEqual(lines.count, 3)
        XCTAssertEqual(lines.first, "test.hw:1:252: error: unknown name 'yy' [E301]")
        XCTAssertEqual(lines[1].count, 3 + Diagnostic.lineWindow + 3)
        XCTAssertTrue(lines[1].hasPrefix("...1 + "))
        XCTAssertTrue(lines[1].hasSuffix(" +..."))
        XCTAssertEqual(lines[2].count, 3 + Diagnostic.lineWindow / 2 + 1)
        XCTAssertEqual(Array(lines[1])[lines[2].count - 1 ..< lines[2].count + 1], ["y", "y"])
    }

    func testCaretAfterTheEndOfTheLine() {
        let list = diagnostics("main { print 1,")
        XCTAssertEqual(list?.diagnostics.map(\.code), [.unclosedBlock, .expectedExpression])
        XCTAssertEqual(list?.rendered().components(separatedBy: "\n").suffix(3), [
            "test.hw:1:16: error: expected an expression, found end of file [E202]",
            "main { print 1,",
            "               ^",
        ])
    }

    // MARK: Recovery

    func testRecoveryReportsEveryBrokenStatementAndDeclaration() {
        let source = """
            param = 3
            type T { a b }
            fn f(x { }
            fn g() {
                y = (1 +
                z = 2 2
                if { }
                print "ok"
                w = )
            }
            main {
                q = 1
            """
        let list = diagnostics(source)
        XCTAssertEqual(list?.diagnostics.map { "\($0.location) \($0.code.rawValue)" }, [
            "1:7 E201", "2:12 E201", "3:8 E201", "6:7 E201", "7:8 E202", "9:9 E202", "11:6 E203",
        ])
    }

    func testCheckerReportsEveryError() {
        let source = """
            type T { a }
            fn f(p) { return p.b + q }
            main {
                x = new T
                x.c = undefined
                f(1, 2)
                break
            }
            """
        XCTAssertEqual(diagnostics(source)?.diagnostics.map { "\($0.location) \($0.code.rawValue)" }, [
            "2:20 E304", "2:24 E301", "5:7 E305", "5:11 E301", "6:5 E401", "7:5 E405",
        ])
    }
}
