// SessionProgram: pieces sorted into declarations and statements by their first word, the
// program they make, and a session's pieces that parse and run as one program.

import HeapWorkload
import XCTest

final class SessionProgramTests: XCTestCase {
    func testDeclarationsAreKnownByTheirFirstWord() {
        for piece in ["type N { a }", "fn f(x) { return x }", "global g = 1", "param n = 3", "fn\tf() { }", "type\nN { }"] {
            XCTAssertTrue(SessionProgram.isDeclaration(piece), piece)
        }
        for piece in ["x = 1", "types = 1", "print fn", "main { }", "f(1)", "", "functional = 2"] {
            XCTAssertFalse(SessionProgram.isDeclaration(piece), piece)
        }
    }

    func testTheProgramIsTheDeclarationsThenAMainOfTheStatements() {
        var program = SessionProgram()
        XCTAssertEqual(program.source, "\nmain {\n\n}\n")
        program.add("  x = 1  \n")
        program.add("fn f(a) { return a + x0 }")
        program.add("print f(x)")
        program.add("\tglobal x0 = 41\n")
        XCTAssertEqual(program.pieceCount, 4)
        XCTAssertEqual(program.declarations, ["fn f(a) { return a + x0 }", "global x0 = 41"])
        XCTAssertEqual(program.statements, ["x = 1", "print f(x)"])
        XCTAssertEqual(program.source, "fn f(a) { return a + x0 }\nglobal x0 = 41\nmain {\nx = 1\nprint f(x)\n}\n")
        XCTAssertEqual(try Workload.run(try Program.parse(source: program.source, fileName: "s")).output, ["42"])
    }

    func testTrimmingKeepsTheInside() {
        XCTAssertEqual(SessionProgram.trimmed(" \n\t print 1\n print 2 \r\n"), "print 1\n print 2")
        XCTAssertEqual(SessionProgram.trimmed("   "), "")
    }
}
