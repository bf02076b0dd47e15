// The lexer: token kinds, literals, comments, newlines and the columns it reports.

@testable import HeapWorkload
import XCTest

final class LexerTests: XCTestCase {
    private func kinds(_ text: String) -> [TokenKind] {
        Lexer.tokenize(SourceText(text)).tokens.map(\.kind)
    }

    func testTokensOfAStatement() {
        XCTAssertEqual(kinds("x = a.b[0] << 2 # comment\n"), [
            .identifier("x"), .punctuation(.assign), .identifier("a"), .punctuation(.dot), .identifier("b"),
            .punctuation(.leftBracket), .integer(0), .punctuation(.rightBracket), .punctuation(.shiftLeft),
            .integer(2), .newline, .endOfFile,
        ])
    }

    func testLongestPunctuationWins() {
        XCTAssertEqual(kinds("<= < << >= > >> == = !="), [
            .punctuation(.lessEqual), .punctuation(.less), .punctuation(.shiftLeft), .punctuation(.greaterEqual),
            .punctuation(.greater), .punctuation(.shiftRight), .punctuation(.equal), .punctuation(.assign),
            .punctuation(.notEqual), .endOfFile,
        ])
    }

    func testKeywordsAndBuiltinNames() {
        XCTAssertEqual(kinds("while len gc range self"), [
            .keyword(.while), .identifier("len"), .identifier("gc"), .identifier("range"), .keyword(.self), .endOfFile,
        ])
    }

    func testIntegerLiterals() {
        XCTAssertEqual(kinds("0 42 1_000_000 0xff 0XFF_FF 9223372036854775808"), [
            .integer(0), .integer(42), .integer(1_000_000), .integer(255), .integer(0xFFFF),
            .integer(9_223_372_036_854_775_808), .endOfFile,
        ])
    }

    func testBlankAndCommentLinesFoldIntoOneNewline() {
        XCTAssertEqual(kinds("\n\n# only a comment\na\n\n  # another\n\nb"), [
            .identifier("a"), .newline, .identifier("b"), .endOfFile,
        ])
    }

    func testStringEscapes() {
        XCTAssertEqual(kinds(#""a\tb\n\"q\" \\ é""#), [.string("a\tb\n\"q\" \\ é"), .endOfFile])
    }

    func testColumnsCountScalarsNotBytes() {
        let tokens = Lexer.tokenize(SourceText("\"é€😀\" x\n\ty")).tokens
        XCTAssertEqual(tokens[1].location, SourceLocation(line: 1, column: 7))
        XCTAssertEqual(tokens[3].location, SourceLocation(line: 2, column: 2))
    }

    func testCarriageReturnLineEndings() {
        let tokens = Lexer.tokenize(SourceText("a\r\nb\r\n")).tokens
        XCTAssertEqual(tokens.map(\.kind), [.identifier("a"), .newline, .identifier("b"), .newline, .endOfFile])
        XCTAssertEqual(tokens[2].location, SourceLocation(line: 2, column: 1))
    }

    func testInvalidBytesCountOneColumnEach() {
        let result = Lexer.tokenize(SourceText(bytes: [0xFF, 0xFE, 0x20, 0x78]))
        XCTAssertEqual(result.diagnostics.map(\.code), [.invalidUTF8])
        XCTAssertEqual(result.tokens[0], Token(kind: .identifier("x"), location: SourceLocation(line: 1, column: 4)))
    }

    func testLexerStopsAtTheErrorLimit() {
        let result = Lexer.tokenize(SourceText(String(repeating: "@ ", count: 1000)))
        XCTAssertEqual(result.diagnostics.count, DiagnosticList.limit)
        XCTAssertTrue(result.stopped)
        XCTAssertEqual(result.tokens.last?.kind, .endOfFile)
    }
}
