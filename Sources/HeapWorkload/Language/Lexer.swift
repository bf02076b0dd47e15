// Lexer: source bytes to tokens, reporting E1xx diagnostics as it goes.
//
//   whitespace   space, tab, form feed, carriage return (skipped)
//   newline      '\n' (one token for a run of blank and comment-only lines)
//   comment      '#' to the end of the line
//   identifier   [A-Za-z_][A-Za-z0-9_]*   (ASCII only; keywords come from `Keyword`)
//   integer      decimal 0 | [1-9][0-9_]*, hexadecimal 0x[0-9A-Fa-f_]+; '_' only between digits
//   string       "..." on one line, escapes \n \t \\ \"
//   punctuation  the spellings of `Punctuation`, longest match first (`<<` before `<`)
//
// The lexer never stops at an error: it reports, skips what it cannot use and goes on, so the
// parser sees a full token list. It gives up (and the token list ends) only after
// `DiagnosticList.limit` errors, which bounds the work on a file of garbage. Every step consumes
// at least one byte, so it always ends.

struct Lexer {
    private let bytes: [UInt8]
    private var offset = 0
    private var line = 1
    private var column = 1
    private var tokens: [Token] = []
    private var diagnostics: [Diagnostic] = []

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The tokens of `source` (ending with `.endOfFile`), the lexical errors, and whether the
    /// lexer stopped early at the error limit.
    static func tokenize(_ source: SourceText) -> (tokens: [Token], diagnostics: [Diagnostic], stopped: Bool) {
        var lexer = Lexer(bytes: source.bytes)
        lexer.run()
        return (lexer.tokens, lexer.diagnostics, lexer.diagnostics.count >= DiagnosticList.limit)
    }

    private var location: SourceLocation { SourceLocation(line: line, column: column) }

    private mutating func run() {
        while offset < bytes.count && diagnostics.count < DiagnosticList.limit {
            let byte = bytes[offset]
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == 0x0C {
                advance(bytes: 1)
            } else if byte == UInt8(ascii: "\n") {
                if let last = tokens.last, last.kind != .newline { tokens.append(Token(kind: .newline, location: location)) }
                offset += 1
                line += 1
                column = 1
            } else if byte == UInt8(ascii: "#") {
                skipComment()
            } else if Lexer.isDigit(byte) {
                lexNumber()
            } else if Lexer.isIdentifierStart(byte) {
                lexWord()
            } else if byte == UInt8(ascii: "\"") {
                lexString()
            } else if let punctuation = punctuation(at: offset) {
                tokens.append(Token(kind: .punctuation(punctuation), location: location))
                advance(bytes: punctuation.rawValue.utf8.count)
            } else {
                lexUnexpected()
            }
        }
        tokens.append(Token(kind: .endOfFile, location: location))
    }

    // MARK: Stepping

    /// Steps over `count` bytes that form one column each (ASCII).
    private mutating func advance(bytes count: Int) {
        offset += count
        column += count
    }

    /// Steps over one unit (a scalar or an invalid byte): one column.
    private mutating func advance(unit: SourceUnit) {
        offset += unit.length
        column += 1
    }

    private func unit() -> SourceUnit {
        SourceText.unit(in: bytes, at: offset, end: bytes.count)
    }

    private mutating func report(_ code: DiagnosticCode, _ message: String, at location: SourceLocation) {
        diagnostics.append(Diagnostic(code, message, at: location))
    }

    /// Reports one E102 for the run of invalid bytes starting here (there is at least one) and
    /// steps over the run.
    private mutating func skipInvalidBytes() {
        let start = location
        let first = bytes[offset]
        var count = 0
        repeat {
            advance(unit: unit())
            count += 1
        } while offset < bytes.count && unit().scalar == nil
        let what = count == 1 ? "byte" : "bytes starting with"
        report(.invalidUTF8, "invalid UTF-8: \(what) 0x\(Lexer.hex(first, digits: 2))", at: start)
    }

    // MARK: Tokens

    private mutating func skipComment() {
        while offset < bytes.count && bytes[offset] != UInt8(ascii: "\n") && diagnostics.count < DiagnosticList.limit {
            let next = unit()
            if next.scalar == nil { skipInvalidBytes() } else { advance(unit: next) }
        }
    }

    private mutating func lexWord() {
        let start = location
        let begin = offset
        while offset < bytes.count && Lexer.isIdentifierPart(bytes[offset]) { advance(bytes: 1) }
        let word = String(decoding: bytes[begin..<offset], as: UTF8.self)
        let kind: TokenKind = Keyword.byName[word].map { .keyword($0) } ?? .identifier(word)
        tokens.append(Token(kind: kind, location: start))
    }

    private mutating func lexNumber() {
        let start = location
        let begin = offset
        while offset < bytes.count && Lexer.isIdentifierPart(bytes[offset]) { advance(bytes: 1) }
        if offset + 1 < bytes.count && bytes[offset] == UInt8(ascii: ".") && Lexer.isDigit(bytes[offset + 1]) {
            advance(bytes: 1)
            while offset < bytes.count && Lexer.isIdentifierPart(bytes[offset]) { advance(bytes: 1) }
            report(.invalidInteger, "numbers with a fraction are not supported; values are 64-bit integers", at: start)
            tokens.append(Token(kind: .integer(0), location: start))
            return
        }
        let value = integerValue(Array(bytes[begin..<offset]), at: start)
        tokens.append(Token(kind: .integer(value ?? 0), location: start))
    }

    /// The value of integer literal `text`, or nil after reporting E105 or E106.
    private mutating func integerValue(_ text: [UInt8], at start: SourceLocation) -> UInt64? {
        var digits = text[...]
        var radix: UInt64 = 10
        if text.count >= 2 && text[0] == UInt8(ascii: "0") && (text[1] | 0x20) == UInt8(ascii: "x") {
            radix = 16
            digits = text.dropFirst(2)
        } else if text.count >= 2 && text[0] == UInt8(ascii: "0") {
            report(.invalidInteger, "a decimal literal may not start with 0 (write hexadecimal as 0x...)", at: start)
            return nil
        }
        guard !digits.isEmpty else {
            report(.invalidInteger, "'0x' must be followed by hexadecimal digits", at: start)
            return nil
        }
        var value: UInt64 = 0
        var overflow = false
        for index in digits.indices {
            let byte = digits[index]
            if byte == UInt8(ascii: "_") {
                let between = index > digits.startIndex && index + 1 < digits.endIndex
                    && Lexer.digitValue(digits[index - 1], radix: radix) != nil
                    && Lexer.digitValue(digits[index + 1], radix: radix) != nil
                guard between else {
                    report(.invalidInteger, "'_' in an integer literal must stand between two digits", at: start)
                    return nil
                }
                continue
            }
            guard let digit = Lexer.digitValue(byte, radix: radix) else {
                let what = radix == 16 ? "hexadecimal" : "decimal"
                report(.invalidInteger, "invalid character '\(Character(Unicode.Scalar(byte)))' in \(what) integer literal", at: start)
                return nil
            }
            let (shifted, overflowed) = value.multipliedReportingOverflow(by: radix)
            let (sum, carried) = shifted.addingReportingOverflow(digit)
            overflow = overflow || overflowed || carried
            value = sum
        }
        guard !overflow && value <= UInt64(Int64.max) + 1 else {
            report(.integerTooLarge, "integer literal does not fit in 64 bits (the largest is \(Int64.max))", at: start)
            return nil
        }
        return value
    }

    private mutating func lexString() {
        let start = location
        advance(bytes: 1)
        var text = String.UnicodeScalarView()
        while true {
            guard offset < bytes.count && bytes[offset] != UInt8(ascii: "\n") else {
                report(.unterminatedString, "unterminated string literal (strings end on the line they start)", at: start)
                break
            }
            let byte = bytes[offset]
            if byte == UInt8(ascii: "\"") {
                advance(bytes: 1)
                break
            }
            if byte == UInt8(ascii: "\\") {
                let escape = location
                advance(bytes: 1)
                guard offset < bytes.count && bytes[offset] != UInt8(ascii: "\n") else { continue }
                let next = unit()
                switch next.scalar {
                case "n": text.append("\n")
                case "t": text.append("\t")
                case "\\": text.append("\\")
                case "\"": text.append("\"")
                default:
                    let shown = next.scalar.map { Lexer.describe($0) } ?? "a byte that is not UTF-8"
                    report(.invalidEscape, "invalid escape \\ followed by \(shown); use \\n, \\t, \\\\ or \\\"", at: escape)
                }
                advance(unit: next)
                continue
            }
            let next = unit()
            if let scalar = next.scalar {
                text.append(scalar)
                advance(unit: next)
            } else {
                skipInvalidBytes()
            }
        }
        tokens.append(Token(kind: .string(String(text)), location: start))
    }

    private mutating func lexUnexpected() {
        let next = unit()
        guard let scalar = next.scalar else {
            skipInvalidBytes()
            return
        }
        var message = "unexpected character \(Lexer.describe(scalar))"
        if scalar == "'" { message += "; strings use double quotes" }
        if scalar == "!" { message += "; write 'not' for negation" }
        report(.unexpectedCharacter, message, at: location)
        advance(unit: next)
    }

    /// The punctuation starting at `offset`, longest match first.
    private func punctuation(at offset: Int) -> Punctuation? {
        let second = offset + 1 < bytes.count ? bytes[offset + 1] : 0
        let equals = second == UInt8(ascii: "=")
        switch bytes[offset] {
        case UInt8(ascii: "("): return .leftParen
        case UInt8(ascii: ")"): return .rightParen
        case UInt8(ascii: "{"): return .leftBrace
        case UInt8(ascii: "}"): return .rightBrace
        case UInt8(ascii: "["): return .leftBracket
        case UInt8(ascii: "]"): return .rightBracket
        case UInt8(ascii: ","): return .comma
        case UInt8(ascii: ";"): return .semicolon
        case UInt8(ascii: "."): return .dot
        case UInt8(ascii: "+"): return .plus
        case UInt8(ascii: "-"): return .minus
        case UInt8(ascii: "*"): return .star
        case UInt8(ascii: "/"): return .slash
        case UInt8(ascii: "%"): return .percent
        case UInt8(ascii: "&"): return .ampersand
        case UInt8(ascii: "|"): return .pipe
        case UInt8(ascii: "^"): return .caret
        case UInt8(ascii: "="): return equals ? .equal : .assign
        case UInt8(ascii: "!"): return equals ? .notEqual : nil
        case UInt8(ascii: "<"): return equals ? .lessEqual : second == UInt8(ascii: "<") ? .shiftLeft : .less
        case UInt8(ascii: ">"): return equals ? .greaterEqual : second == UInt8(ascii: ">") ? .shiftRight : .greater
        default: return nil
        }
    }

    // MARK: Character classes

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private static func isIdentifierStart(_ byte: UInt8) -> Bool {
        let lower = byte | 0x20
        return (lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "z")) || byte == UInt8(ascii: "_")
    }

    private static func isIdentifierPart(_ byte: UInt8) -> Bool {
        isIdentifierStart(byte) || isDigit(byte)
    }

    private static func digitValue(_ byte: UInt8, radix: UInt64) -> UInt64? {
        if isDigit(byte) { return UInt64(byte - UInt8(ascii: "0")) }
        let lower = byte | 0x20
        if radix == 16 && lower >= UInt8(ascii: "a") && lower <= UInt8(ascii: "f") { return UInt64(lower - UInt8(ascii: "a") + 10) }
        return nil
    }

    /// `'é' (U+00E9)` for a printable scalar, `U+0007` for a control character.
    private static func describe(_ scalar: Unicode.Scalar) -> String {
        let code = "U+" + hex(scalar.value, digits: 4)
        let control = scalar.value < 0x20 || (0x7F..<0xA0).contains(scalar.value)
        return control ? code : "'\(scalar)' (\(code))"
    }

    private static func hex<Value: BinaryInteger>(_ value: Value, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }
}
