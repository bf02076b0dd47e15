// Parser: tokens to a `Program`, by recursive descent, reporting E2xx diagnostics.
//
// Declarations live here; statements and expressions in Parser+Statements and
// Parser+Expressions. The grammar is in docs/language.md.
//
// Error recovery. A rule that cannot go on reports one diagnostic and throws `SyntaxError`; the
// nearest loop that owns a list catches it and skips to a boundary:
//   statement loop (a block)   to the next newline or ';' outside braces, or to the '}' that
//                              closes the block, or to a keyword that begins a declaration
//   type body                  to the next ',' newline or '}'
//   top level                  to the next declaration keyword outside braces
// Each loop also consumes a token when an iteration consumed none, so parsing always ends. After
// `DiagnosticList.limit` errors the parser stops: every token from then on reads as end of file.
//
// Depth. `nesting` counts the blocks, parentheses, unary operators, binary operators of a chain
// and postfix operators of a chain that enclose the node being parsed; past `nestingLimit` the
// parser reports E204 and skips the rest of that group, so no input can make the parser (or a
// later walk of the tree, or the tree's own deinit) recurse deeper than the limit allows.
//
// Newlines end statements, except inside ( ) and [ ] (`groupDepth` > 0), where they are skipped
// so that long argument lists may span lines; newlines before '{' and before 'elif'/'else' are
// skipped too.

/// Thrown by a parsing rule after it has reported its diagnostic.
struct SyntaxError: Error {}

struct Parser {
    static let nestingLimit = 200

    private var tokens: [Token]
    private(set) var position = 0
    var nesting = 0
    var groupDepth = 0
    private(set) var diagnostics: [Diagnostic] = []
    /// Set when the error limit was reached: the parser reads end of file from then on.
    private(set) var stopped = false
    private var program: Program

    private init(tokens: [Token], fileName: String) {
        self.tokens = tokens
        program = Program(fileName: fileName)
    }

    /// Parses `tokens` (which end with `.endOfFile`) into a program and its syntax errors.
    static func parse(_ tokens: [Token], fileName: String) -> (program: Program, diagnostics: [Diagnostic], stopped: Bool) {
        var parser = Parser(tokens: tokens, fileName: fileName)
        parser.parseProgram()
        return (parser.program, parser.diagnostics, parser.stopped)
    }

    // MARK: Tokens

    /// The current token; inside ( ) and [ ] newlines are stepped over first.
    var current: Token {
        mutating get {
            if stopped { return tokens[tokens.count - 1] }
            while groupDepth > 0 && tokens[position].kind == .newline { position += 1 }
            return tokens[position]
        }
    }

    /// The token after the current one (newlines included).
    var next: Token {
        mutating get {
            _ = current
            return stopped ? tokens[tokens.count - 1] : tokens[min(position + 1, tokens.count - 1)]
        }
    }

    @discardableResult
    mutating func advance() -> Token {
        let token = current
        if token.kind != .endOfFile { position += 1 }
        return token
    }

    mutating func at(_ punctuation: Punctuation) -> Bool {
        current.kind == .punctuation(punctuation)
    }

    mutating func at(_ keyword: Keyword) -> Bool {
        current.kind == .keyword(keyword)
    }

    /// True where a simple statement may end: newline, ';', '}' or end of file.
    mutating func atStatementEnd() -> Bool {
        switch current.kind {
        case .newline, .endOfFile, .punctuation(.semicolon), .punctuation(.rightBrace): true
        default: false
        }
    }

    /// True at `fn`, `type` or `main`, where an unclosed block or type body ends.
    mutating func atBodyDeclaration() -> Bool {
        if case .keyword(let keyword) = current.kind { return keyword.beginsBodyDeclaration }
        return false
    }

    /// The first token from here that is not a newline; nothing is consumed.
    mutating func upcomingIgnoringNewlines() -> Token {
        var index = stopped ? tokens.count - 1 : position
        while tokens[index].kind == .newline { index += 1 }
        return tokens[index]
    }

    mutating func skipNewlines() {
        while current.kind == .newline { advance() }
    }

    /// Consumes `punctuation` or reports E201 (`expected 'x' <context>, found y`) and throws.
    @discardableResult
    mutating func expect(_ punctuation: Punctuation, _ context: String) throws(SyntaxError) -> Token {
        guard at(punctuation) else { throw fail(.unexpectedToken, "expected '\(punctuation.rawValue)' \(context), found \(current.kind.description)") }
        return advance()
    }

    /// Consumes an identifier or reports E201 and throws.
    mutating func expectIdentifier(_ context: String) throws(SyntaxError) -> Identifier {
        guard case .identifier(let name) = current.kind else {
            throw fail(.unexpectedToken, "expected \(context), found \(current.kind.description)")
        }
        return Identifier(name: name, location: advance().location)
    }

    // MARK: Diagnostics and recovery

    mutating func report(_ code: DiagnosticCode, _ message: String, at location: SourceLocation) {
        guard !stopped else { return }
        diagnostics.append(Diagnostic(code, message, at: location))
        if diagnostics.count >= DiagnosticList.limit { stopped = true }
    }

    /// Reports at the current token and returns the error for the caller to throw.
    mutating func fail(_ code: DiagnosticCode, _ message: String) -> SyntaxError {
        report(code, message, at: current.location)
        return SyntaxError()
    }

    /// Enters one level of nesting at `location`, reporting E204 past the limit; the caller
    /// leaves with `nesting -= 1` (only when this returned true).
    mutating func enterNesting(at location: SourceLocation) -> Bool {
        guard nesting < Parser.nestingLimit else {
            report(.nestingTooDeep, "nested more than \(Parser.nestingLimit) levels deep", at: location)
            return false
        }
        nesting += 1
        return true
    }

    /// With the current token a '{', skips to just past its matching '}' (or to the end),
    /// without recursion.
    mutating func skipBlock() {
        var depth = 0
        repeat {
            if at(.leftBrace) { depth += 1 } else if at(.rightBrace) { depth -= 1 }
            advance()
        } while depth > 0 && current.kind != .endOfFile
    }

    /// With the current token a '(' or '[' nested too deep: skips it, what it holds and the
    /// closing brackets of the groups around it, so that recovery resumes after the whole
    /// bracketed expression; stops early at a '}' (no expression holds one) or the end.
    mutating func skipNestedGroups() {
        var depth = groupDepth
        repeat {
            switch current.kind {
            case .punctuation(.leftParen), .punctuation(.leftBracket): depth += 1
            case .punctuation(.rightParen), .punctuation(.rightBracket): depth -= 1
            case .punctuation(.rightBrace), .endOfFile: return
            default: break
            }
            advance()
        } while depth > 0
    }

    /// After an error in a statement: skips to the next newline or ';' (consumed) outside braces,
    /// or to the block's '}' or a declaration keyword (left for the caller).
    mutating func synchronizeStatement() {
        var depth = 0
        while true {
            switch current.kind {
            case .endOfFile: return
            case .newline where depth == 0, .punctuation(.semicolon) where depth == 0:
                advance()
                return
            case .punctuation(.rightBrace) where depth == 0: return
            case .keyword(let keyword) where depth == 0 && keyword.beginsBodyDeclaration: return
            case .punctuation(.leftBrace): depth += 1
            case .punctuation(.rightBrace): depth -= 1
            default: break
            }
            advance()
        }
    }

    /// After an error in a declaration: skips to the next declaration keyword outside braces.
    private mutating func synchronizeDeclaration() {
        var depth = 0
        while true {
            switch current.kind {
            case .endOfFile: return
            case .keyword(let keyword) where depth == 0 && keyword.beginsDeclaration: return
            case .punctuation(.leftBrace): depth += 1
            case .punctuation(.rightBrace): depth = max(0, depth - 1)
            default: break
            }
            advance()
        }
    }

    // MARK: Declarations

    private mutating func parseProgram() {
        while current.kind != .endOfFile {
            if current.kind == .newline || at(.semicolon) {
                advance()
                continue
            }
            let start = position
            do {
                try parseDeclaration()
            } catch {
                synchronizeDeclaration()
            }
            if position == start { advance() }
        }
    }

    private mutating func parseDeclaration() throws(SyntaxError) {
        guard case .keyword(let keyword) = current.kind, keyword.beginsDeclaration else {
            throw fail(.unexpectedToken, "expected a declaration (param, global, type, fn or main), found \(current.kind.description)")
        }
        let keywordLocation = advance().location
        switch keyword {
        case .param:
            let name = try expectIdentifier("a param name")
            try expect(.assign, "after the param name (a param needs a value)")
            let value = try parseExpression()
            try expectStatementEnd()
            program.params.append(ParamDeclaration(name: name.name, location: name.location, value: value))
        case .global:
            let name = try expectIdentifier("a global name")
            var value: Expression?
            if at(.assign) {
                advance()
                value = try parseExpression()
            }
            try expectStatementEnd()
            program.globals.append(GlobalDeclaration(name: name.name, location: name.location, initialValue: value))
        case .type:
            try parseType()
        case .fn:
            try parseFunction()
        default:  // main, the last keyword that begins a declaration
            let body = try parseBlock()
            if let first = program.main {
                report(.duplicateMain, "a program has one main block; the first is at \(first.location)", at: keywordLocation)
            } else {
                program.main = MainDeclaration(location: keywordLocation, body: body)
            }
        }
    }

    private mutating func parseFunction() throws(SyntaxError) {
        let name = try expectIdentifier("a function name")
        try expect(.leftParen, "after the function name")
        groupDepth += 1
        var parameters: [Identifier] = []
        do {
            defer { groupDepth -= 1 }
            while !at(.rightParen) {
                parameters.append(try expectIdentifier("a parameter name"))
                guard at(.comma) else { break }
                advance()
            }
            try expect(.rightParen, "after the parameters")
        }
        let body = try parseBlock()
        program.functions.append(FunctionDeclaration(name: name.name, location: name.location, parameters: parameters, body: body))
    }

    /// `type Name { item, item ... }` where an item is a slot name, `payload N` or
    /// `finalize { }`, separated by ',', ';' or newlines.
    private mutating func parseType() throws(SyntaxError) {
        let name = try expectIdentifier("a type name")
        skipNewlines()
        let open = try expect(.leftBrace, "to open the type body")
        var declaration = TypeDeclaration(name: name.name, location: name.location, slots: [], payload: nil, finalizer: nil)
        while true {
            while current.kind == .newline || at(.comma) || at(.semicolon) { advance() }
            if at(.rightBrace) {
                advance()
                break
            }
            if current.kind == .endOfFile || atBodyDeclaration() {
                report(.unclosedBlock, "the body of type '\(name.name)' is not closed with '}'", at: open.location)
                break
            }
            let start = position
            do {
                try parseTypeItem(into: &declaration)
            } catch {
                while !(current.kind == .newline || at(.comma) || at(.rightBrace) || current.kind == .endOfFile) { advance() }
            }
            if position == start { advance() }
        }
        program.types.append(declaration)
    }

    private mutating func parseTypeItem(into declaration: inout TypeDeclaration) throws(SyntaxError) {
        let token = current
        switch token.kind {
        case .identifier(let slot):
            advance()
            declaration.slots.append(Identifier(name: slot, location: token.location))
        case .keyword(.payload):
            advance()
            let size = try parseExpression()
            if declaration.payload != nil {
                report(.duplicateTypeItem, "type '\(declaration.name)' already has a payload", at: token.location)
            }
            declaration.payload = size
        case .keyword(.finalize):
            advance()
            let body = try parseBlock()
            if declaration.finalizer != nil {
                report(.duplicateTypeItem, "type '\(declaration.name)' already has a finalize block", at: token.location)
            }
            declaration.finalizer = Finalizer(location: token.location, body: body)
            return
        default:
            throw fail(.unexpectedToken, "expected a slot name, 'payload' or 'finalize' in a type body, found \(token.kind.description)")
        }
        guard current.kind == .newline || at(.comma) || at(.semicolon) || at(.rightBrace) else {
            throw fail(.unexpectedToken, "expected ',' or a newline between the items of a type, found \(current.kind.description)")
        }
    }
}
