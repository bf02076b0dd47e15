// Hostile input: whatever the bytes, the front end ends with diagnostics, never a crash, a hang
// or a stack overflow. Deep nesting stops at the nesting limit (E204); garbage stops at the
// error limit (E299); the deepest legal program also parses on a thread with a small stack.

import Foundation
@testable import HeapWorkload
import XCTest

final class HostileInputTests: XCTestCase {
    private func codes(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> [DiagnosticCode] {
        do {
            _ = try Program.parse(bytes: bytes, fileName: "hostile.hw")
            XCTFail("expected errors", file: file, line: line)
            return []
        } catch {
            XCTAssertLessThanOrEqual(error.diagnostics.count, DiagnosticList.limit + 1, file: file, line: line)
            XCTAssertFalse(error.rendered().isEmpty, file: file, line: line)
            return error.diagnostics.map(\.code)
        }
    }

    private func codes(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> [DiagnosticCode] {
        codes(Array(text.utf8), file: file, line: line)
    }

    private func repeated(_ text: String, _ count: Int) -> String {
        String(repeating: text, count: count)
    }

    // MARK: Depth

    func testTenThousandNestedParentheses() {
        XCTAssertEqual(codes("main { x = " + repeated("(", 10_000) + "1" + repeated(")", 10_000) + " }"), [.nestingTooDeep])
    }

    func testTenThousandNestedParenthesesOnSeparateLines() {
        XCTAssertEqual(codes("main {\nx = " + repeated("(\n", 10_000) + "1" + repeated("\n)", 10_000) + "\nprint x\n}"), [.nestingTooDeep])
    }

    func testTenThousandNestedBlocks() {
        XCTAssertEqual(codes("main {\n" + repeated("if 1 {\n", 10_000) + repeated("}\n", 10_000) + "}\n"), [.nestingTooDeep])
    }

    func testTenThousandNestedBareBraces() {
        let found = codes("main { " + repeated("{", 10_000) + repeated("}", 10_000) + " }")
        XCTAssertEqual(found, [.expectedExpression])
    }

    func testTenThousandNestedBlocksNeverClosed() {
        XCTAssertEqual(codes("main {\n" + repeated("while 1 {\n", 10_000)).first, .unclosedBlock)
    }

    func testLongPrefixAndPostfixChains() {
        XCTAssertEqual(codes("main { x = " + repeated("-", 10_000) + "1 }"), [.nestingTooDeep])
        XCTAssertEqual(codes("main { x = " + repeated("not ", 10_000) + "1 }"), [.nestingTooDeep])
        XCTAssertEqual(codes("main { x = a" + repeated(".s", 10_000) + " }"), [.nestingTooDeep])
        XCTAssertEqual(codes("main { x = a" + repeated("[0]", 10_000) + " }"), [.nestingTooDeep])
        XCTAssertEqual(codes("main { x = " + repeated("1 + ", 10_000) + "1 }"), [.nestingTooDeep])
    }

    func testNestedCallsArraysAndSpawns() {
        XCTAssertEqual(codes("main { x = " + repeated("f(", 10_000) + repeated(")", 10_000) + " }"), [.nestingTooDeep])
        XCTAssertEqual(codes("main { x = " + repeated("new [", 10_000) + "1" + repeated("]", 10_000) + " }"), [.nestingTooDeep])
        XCTAssertEqual(codes("main { x = " + repeated("spawn f(", 10_000) + repeated(")", 10_000) + " }"), [.nestingTooDeep])
    }

    func testDeepestLegalNestingChecksOnASmallStack() {
        let blocks = 100
        let parens = Parser.nestingLimit - blocks - 1
        let source = "fn f(a) { return a }\nmain {\n" + repeated("if 1 {\n", blocks)
            + "x = " + repeated("f((", parens / 2) + "1" + repeated("))", parens / 2) + "\nprint x\n" + repeated("}\n", blocks) + "}\n"
        let done = DispatchSemaphore(value: 0)
        let outcome = Locked(false)
        let thread = Thread {
            outcome.set((try? Program.parse(source: source, fileName: "deep.hw")) != nil)
            done.signal()
        }
        thread.stackSize = 1 << 20
        thread.start()
        done.wait()
        XCTAssertTrue(outcome.get(), "the deepest legal program should parse and check within 1 MiB of stack")
    }

    // MARK: Garbage

    func testOneMegabyteOfRandomBytes() {
        var random = SplitMix(seed: 42)
        let bytes = (0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        XCTAssertEqual(codes(bytes).last, .tooManyErrors)
    }

    func testOneMegabyteOfRandomTokens() {
        var random = SplitMix(seed: 7)
        let words = ["main", "{", "}", "(", ")", "[", "]", "if", "x", "=", "1", "+", "\n", ";", ",", ".", "fn", "type",
                     "\"s\"", "new", "spawn", "for", "in", "range", "not", "payload", "finalize", "gc", "elif", "else"]
        var text = ""
        while text.utf8.count < 1 << 20 { text += words[Int(random.next() % UInt64(words.count))] + " " }
        XCTAssertEqual(codes(text).last, .tooManyErrors)
    }

    func testOneMegabyteOfOpeningBrackets() {
        XCTAssertFalse(codes("main { x = " + repeated("(", 1 << 20)).isEmpty)
        XCTAssertFalse(codes(repeated("{", 1 << 20)).isEmpty)
        XCTAssertFalse(codes("main " + repeated("{", 1 << 20)).isEmpty)
        XCTAssertFalse(codes(repeated("}", 1 << 20)).isEmpty)
    }

    func testControlCharactersAndNulBytes() {
        XCTAssertEqual(codes([0x6D, 0x61, 0x69, 0x6E, 0x20, 0x7B, 0x00, 0x07, 0x7D]), [.unexpectedCharacter, .unexpectedCharacter])
    }

    func testOverlongAndSurrogateEncodingsAreInvalidUTF8() {
        XCTAssertEqual(codes(Array("main { } #".utf8) + [0xC0, 0xAF]), [.invalidUTF8])
        XCTAssertEqual(codes(Array("main { } #".utf8) + [0xED, 0xA0, 0x80]), [.invalidUTF8])
        XCTAssertEqual(codes(Array("main { } #".utf8) + [0xF4, 0x90, 0x80, 0x80]), [.invalidUTF8])
        XCTAssertEqual(codes(Array("main { } #".utf8) + [0xE2, 0x82]), [.invalidUTF8])
    }

    // MARK: Unterminated and oversized

    func testUnterminatedString() {
        XCTAssertEqual(codes("main { print \"never closed"), [.unclosedBlock, .unterminatedString])
        XCTAssertEqual(codes("main { print \"ends at the line\n}"), [.unterminatedString])
    }

    func testUnterminatedBlockTypeAndParameterList() {
        XCTAssertEqual(codes("main { x = 1\n"), [.unclosedBlock])
        XCTAssertEqual(codes("type T { a, b\nmain { }"), [.unclosedBlock])
        XCTAssertEqual(codes("fn f(a, b"), [.unexpectedToken])
    }

    func testGiantIntegerLiteral() {
        XCTAssertEqual(codes("main { x = " + repeated("9", 100_000) + " }"), [.integerTooLarge])
        XCTAssertEqual(codes("main { x = 0x" + repeated("f", 100_000) + " }"), [.integerTooLarge])
    }

    func testEmptyFile() {
        XCTAssertEqual(codes(""), [.missingMain])
        XCTAssertEqual(codes([]), [.missingMain])
    }
}

/// A tiny seeded generator (SplitMix64) for reproducible garbage.
private struct SplitMix {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A value shared with the thread of `testDeepestLegalNestingChecksOnASmallStack`.
private final class Locked<Value: Sendable>: @unchecked Sendable {
    // @unchecked: every access goes through `lock`.
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) {
        self.value = value
    }

    func get() -> Value { lock.withLock { value } }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
}
