// The parser: every construct of the language parses into the expected tree shape (see
// SyntaxDump for the notation), precedence is Python's, and locations are where the syntax tree
// documents them.

import HeapWorkload
import XCTest

final class ParserTests: XCTestCase {
    private func statements(_ body: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        let dump = syntaxDump("main {\n\(body)\n}", file: file, line: line)
        return String(dump.dropFirst("main {".count).dropLast())
    }

    private func expression(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> String {
        statements("x = \(text)", file: file, line: line).replacingOccurrences(of: "(= x ", with: "").dropLast().description
    }

    // MARK: Declarations

    func testTopLevelDeclarations() {
        let source = """
            # a comment
            param depth = 18
            param size = 1 << depth
            global cache
            global hits = 0
            type Leaf { }
            type Node { left, right
                payload 64
                finalize { print "bye"; return }
            }
            fn pair(a, b) { return a }
            fn nothing() { }
            main { }
            """
        XCTAssertEqual(syntaxDump(source), """
            param depth = 18
            param size = (<< 1 depth)
            global cache
            global hits = 0
            type Leaf {}
            type Node {left, right, payload 64, finalize {(print "bye"); (return)}}
            fn pair(a, b) {(return a)}
            fn nothing() {}
            main {}
            """)
    }

    func testTypeItemsMaySitOnOneLineWithSemicolonsOrTrailingCommas() {
        XCTAssertEqual(syntaxDump("type T { a; b, payload 8, finalize { } , }\nmain {}"),
                       "type T {a, b, payload 8, finalize {}}\nmain {}")
    }

    func testDeclarationLocationsAreTheirNames() throws {
        let program = try Program.parseSyntax(source: "param  p = 1\ntype   T { s }\nfn   f(a) { }\n  main { }", fileName: "t.hw")
        XCTAssertEqual(program.params[0].location, SourceLocation(line: 1, column: 8))
        XCTAssertEqual(program.types[0].location, SourceLocation(line: 2, column: 8))
        XCTAssertEqual(program.types[0].slots[0].location, SourceLocation(line: 2, column: 12))
        XCTAssertEqual(program.functions[0].location, SourceLocation(line: 3, column: 6))
        XCTAssertEqual(program.functions[0].parameters[0].location, SourceLocation(line: 3, column: 8))
        XCTAssertEqual(program.main?.location, SourceLocation(line: 4, column: 3))
        XCTAssertEqual(program.main?.body.location, SourceLocation(line: 4, column: 8))
    }

    // MARK: Statements

    func testAssignments() {
        XCTAssertEqual(statements("x = 1\nx.left = y\na[i + 1] = none"),
                       "(= x 1); (= (. x left) y); (= ([] a (+ i 1)) none)")
    }

    func testCallAndSpawnStatements() {
        XCTAssertEqual(statements("f(1, 2)\nsend(ch, x); close(ch)\nspawn worker(ch)\ngc.collect()"),
                       "(call f 1 2); (call send ch x); (call close ch); (spawn worker ch); (call gc.collect)")
    }

    func testDelBreakContinueReturn() {
        XCTAssertEqual(statements("del x\nwhile 1 { break; continue }\nreturn\nreturn x + 1"),
                       "(del x); (while 1 {break; continue}); (return); (return (+ x 1))")
    }

    func testIfElifElse() {
        XCTAssertEqual(statements("if a { x = 1 } elif b { x = 2 }\nelif c { x = 3 }\nelse\n{ x = 4 }"),
                       "(if (a {(= x 1)}) (b {(= x 2)}) (c {(= x 3)}) else {(= x 4)})")
        XCTAssertEqual(statements("if a { }\nx = 1"), "(if (a {})); (= x 1)")
    }

    func testWhileRepeatPhase() {
        XCTAssertEqual(statements("while n > 0 { n = n - 1 }\nrepeat 3 { f() }\nphase \"warm up\" { g() }"),
                       "(while (> n 0) {(= n (- n 1))}); (repeat 3 {(call f)}); (phase \"warm up\" {(call g)})")
    }

    func testForRangeForms() {
        XCTAssertEqual(statements("for i in range(10) { }\nfor i in range(2, n) { }\nfor i in range(n, 0, -1) { }"),
                       "(for i _ 10 _ {}); (for i 2 n _ {}); (for i n 0 -1 {})")
    }

    func testPrintAndExpect() {
        XCTAssertEqual(statements("print\nprint \"a\", x, \"b\"\nexpect x == 1\nexpect y, \"y holds\""),
                       "(print); (print \"a\" x \"b\"); (expect (== x 1)); (expect y \"y holds\")")
    }

    func testStatementsAfterAClosingBraceNeedNoSeparator() {
        XCTAssertEqual(statements("if a { return 1 }  return 2"), "(if (a {(return 1)})); (return 2)")
    }

    func testNewlinesInsideParenthesesAndBrackets() {
        XCTAssertEqual(statements("f(1,\n  2\n)\nx = (a\n + b)\ny = a[\n0]"),
                       "(call f 1 2); (= x (+ a b)); (= y ([] a 0))")
    }

    // MARK: Expressions

    func testLiterals() {
        XCTAssertEqual(expression("0x10"), "16")
        XCTAssertEqual(expression("1_000"), "1000")
        XCTAssertEqual(expression("true"), "1")
        XCTAssertEqual(expression("false"), "0")
        XCTAssertEqual(expression("none"), "none")
        XCTAssertEqual(expression("-9223372036854775808"), "-9223372036854775808")
        XCTAssertEqual(expression("-5"), "-5")
        XCTAssertEqual(expression("- - 5"), "(- -5)")
    }

    func testPrecedenceIsPythons() {
        XCTAssertEqual(expression("1 + 2 * 3"), "(+ 1 (* 2 3))")
        XCTAssertEqual(expression("1 - 2 - 3"), "(- (- 1 2) 3)")
        XCTAssertEqual(expression("a / b % c"), "(% (/ a b) c)")
        XCTAssertEqual(expression("1 << 2 + 3"), "(<< 1 (+ 2 3))")
        XCTAssertEqual(expression("a >> 1 << 2"), "(<< (>> a 1) 2)")
        XCTAssertEqual(expression("a & b << 1"), "(& a (<< b 1))")
        XCTAssertEqual(expression("a | b ^ c & d"), "(| a (^ b (& c d)))")
        XCTAssertEqual(expression("a | b == c"), "(== (| a b) c)")
        XCTAssertEqual(expression("not a == b"), "(not (== a b))")
        XCTAssertEqual(expression("not a and b or c"), "(or (and (not a) b) c)")
        XCTAssertEqual(expression("a or b and not not c"), "(or a (and b (not (not c))))")
        XCTAssertEqual(expression("-a * b"), "(* (- a) b)")
        XCTAssertEqual(expression("-a.b[0]"), "(- ([] (. a b) 0))")
        XCTAssertEqual(expression("(1 + 2) * 3"), "(* (+ 1 2) 3)")
    }

    func testComparisons() {
        for op in ["==", "!=", "<", "<=", ">", ">="] {
            XCTAssertEqual(expression("a \(op) b"), "(\(op) a b)")
        }
    }

    func testPostfixAndPrimaryForms() {
        XCTAssertEqual(expression("f(a, g(b))"), "(call f a (call g b))")
        XCTAssertEqual(expression("n.left.right"), "(. (. n left) right)")
        XCTAssertEqual(expression("a[i][j]"), "([] ([] a i) j)")
        XCTAssertEqual(expression("make(d).left"), "(. (call make d) left)")
        XCTAssertEqual(expression("new Node"), "(new Node)")
        XCTAssertEqual(expression("new [n * 2]"), "(new [(* n 2)])")
        XCTAssertEqual(expression("spawn worker(ch, 3)"), "(spawn worker ch 3)")
        XCTAssertEqual(expression("gc.get_count(0) + 1"), "(+ (call gc.get_count 0) 1)")
        XCTAssertEqual(expression("self"), "self")
    }

    func testBuiltinCallsParseAsCalls() {
        XCTAssertEqual(expression("weak(x, gone)"), "(call weak x gone)")
        XCTAssertEqual(expression("deref(w)"), "(call deref w)")
        XCTAssertEqual(expression("len(a) + refcount(x) + rand(10)"), "(+ (+ (call len a) (call refcount x)) (call rand 10))")
        XCTAssertEqual(expression("recv(channel(4))"), "(call recv (call channel 4))")
        XCTAssertEqual(expression("join(spawn f())"), "(call join (spawn f))")
    }

    func testExpressionLocations() throws {
        let program = try Program.parseSyntax(source: "main {\n  x = a +  b.c[1]\n}", fileName: "t.hw")
        guard case .assign(.name(let name), let value)? = program.main?.body.statements.first?.kind else {
            return XCTFail("expected an assignment")
        }
        XCTAssertEqual(name.location, SourceLocation(line: 2, column: 3))
        XCTAssertEqual(program.main?.body.statements.first?.location, SourceLocation(line: 2, column: 3))
        XCTAssertEqual(value.location, SourceLocation(line: 2, column: 9))
        guard case .binary(.add, let left, let right) = value.kind, case .element(let slot, let index) = right.kind else {
            return XCTFail("expected a + b.c[1]")
        }
        XCTAssertEqual(left.location, SourceLocation(line: 2, column: 7))
        XCTAssertEqual(right.location, SourceLocation(line: 2, column: 15))
        XCTAssertEqual(slot.location, SourceLocation(line: 2, column: 13))
        XCTAssertEqual(index.location, SourceLocation(line: 2, column: 16))
    }
}
