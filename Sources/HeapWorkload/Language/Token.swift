// Token: what the lexer hands the parser. A token is a kind (with its value) and the place its
// first character stands. Newlines are tokens because they end statements; the lexer folds a run
// of blank lines and comment lines into one. The token list always ends with `.endOfFile`.

/// One token and where it starts.
struct Token: Equatable {
    var kind: TokenKind
    var location: SourceLocation
}

enum TokenKind: Equatable {
    case identifier(String)
    /// The magnitude as written; the parser checks it against Int64 (the lexer lets 2^63
    /// through so that `-9223372036854775808` can be written).
    case integer(UInt64)
    case string(String)
    case keyword(Keyword)
    case punctuation(Punctuation)
    case newline
    case endOfFile

    /// How messages name the token: `identifier 'x'`, `'while'`, `'('`, `newline`.
    var description: String {
        switch self {
        case .identifier(let name): "identifier '\(name)'"
        case .integer(let value): "integer \(value)"
        case .string: "string literal"
        case .keyword(let keyword): "'\(keyword.rawValue)'"
        case .punctuation(let punctuation): "'\(punctuation.rawValue)'"
        case .newline: "newline"
        case .endOfFile: "end of file"
        }
    }
}

/// Reserved words. Builtin function names (`len`, `weak`, ..., `gc`, `range`) are not keywords:
/// they lex as identifiers and the checker reserves them.
enum Keyword: String, CaseIterable {
    case param, global, type, payload, finalize, fn, main
    case `if`, elif, `else`, `while`, `for`, `in`, `repeat`, `break`, `continue`, `return`
    case del, print, expect, phase, snapshot
    case new, spawn, none, `true`, `false`, and, or, not, `self`

    /// Keywords that begin a top-level declaration; the parser resynchronises on them.
    var beginsDeclaration: Bool {
        switch self {
        case .param, .global, .type, .fn, .main: true
        default: false
        }
    }

    /// Keywords that begin a declaration with a body. Statements never start with one, so a
    /// block that meets one was left unclosed (params and globals are left out: `global x`
    /// inside a function is a likelier mistake than a missing '}').
    var beginsBodyDeclaration: Bool {
        self == .fn || self == .type || self == .main
    }

    static let byName: [String: Keyword] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })
}

/// Operators and delimiters, spelled as in source.
enum Punctuation: String {
    case leftParen = "(", rightParen = ")", leftBrace = "{", rightBrace = "}"
    case leftBracket = "[", rightBracket = "]"
    case comma = ",", semicolon = ";", dot = ".", assign = "="
    case plus = "+", minus = "-", star = "*", slash = "/", percent = "%"
    case shiftLeft = "<<", shiftRight = ">>", ampersand = "&", pipe = "|", caret = "^"
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="
}
