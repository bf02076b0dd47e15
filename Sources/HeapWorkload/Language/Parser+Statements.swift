// Parser+Statements: blocks and the statements in them.
//
//   block      '{' { statement } '}'
//   statement  simple (newline | ';' | before '}')  |  compound
//   simple     target '=' expr | call | 'spawn' call | 'del' NAME | 'break' | 'continue'
//              | 'return' [expr] | 'print' [item {',' item}] | 'expect' expr [',' STRING]
//   compound   'if' expr block {'elif' expr block} ['else' block] | 'while' expr block
//              | 'for' NAME 'in' 'range' '(' expr [',' expr [',' expr]] ')' block
//              | 'repeat' expr block | 'phase' STRING block
//
// A compound statement needs no separator after its '}', so `if c { return 1 }  return 2`
// is two statements on one line.

extension Parser {
    /// `{ statements }`; newlines before the '{' are skipped. Errors inside are recovered here,
    /// statement by statement, so this throws only when there is no '{'.
    mutating func parseBlock() throws(SyntaxError) -> Block {
        skipNewlines()
        guard at(.leftBrace) else { throw fail(.unexpectedToken, "expected '{' to open a block, found \(current.kind.description)") }
        let open = current.location
        guard enterNesting(at: open) else {
            skipBlock()
            return Block(statements: [], location: open)
        }
        defer { nesting -= 1 }
        advance()
        var statements: [Statement] = []
        while true {
            while current.kind == .newline || at(.semicolon) { advance() }
            if at(.rightBrace) {
                advance()
                break
            }
            if current.kind == .endOfFile {
                report(.unclosedBlock, "this '{' is never closed", at: open)
                break
            }
            if atBodyDeclaration() {
                report(.unclosedBlock, "this '{' is not closed before \(current.kind.description) at \(current.location)", at: open)
                break
            }
            let start = position
            do {
                statements.append(try parseStatement())
            } catch {
                synchronizeStatement()
            }
            if position == start && !at(.rightBrace) { advance() }
        }
        return Block(statements: statements, location: open)
    }

    /// Ends a simple statement: consumes a newline or ';', accepts '}' or end of file (left in
    /// place), reports E209 at anything else.
    mutating func expectStatementEnd() throws(SyntaxError) {
        switch current.kind {
        case .newline, .punctuation(.semicolon): advance()
        case .punctuation(.rightBrace), .endOfFile: break
        default: throw fail(.missingSeparator, "expected a newline or ';' after the statement, found \(current.kind.description)")
        }
    }

    private mutating func parseStatement() throws(SyntaxError) -> Statement {
        let token = current
        let kind: Statement.Kind
        switch token.kind {
        case .keyword(.if):
            kind = try parseIf()
        case .keyword(.while):
            advance()
            let condition = try parseExpression()
            kind = .while(condition: condition, body: try parseBlock())
        case .keyword(.for):
            kind = try parseFor()
        case .keyword(.repeat):
            advance()
            let count = try parseExpression()
            kind = .repeat(count: count, body: try parseBlock())
        case .keyword(.phase):
            advance()
            guard case .string(let name) = current.kind else {
                throw fail(.unexpectedToken, "expected the phase name as a string after 'phase', found \(current.kind.description)")
            }
            advance()
            kind = .phase(name: name, body: try parseBlock())
        default:
            kind = try parseSimpleStatement()
            try expectStatementEnd()
        }
        return Statement(kind: kind, location: token.location)
    }

    private mutating func parseSimpleStatement() throws(SyntaxError) -> Statement.Kind {
        let token = current
        switch token.kind {
        case .keyword(.del):
            advance()
            let name = try expectIdentifier("a variable name after 'del'")
            return .delete(NameReference(name: name.name, location: name.location))
        case .keyword(.break):
            advance()
            return .break
        case .keyword(.continue):
            advance()
            return .continue
        case .keyword(.return):
            advance()
            return .return(atStatementEnd() ? nil : try parseExpression())
        case .keyword(.print):
            advance()
            return .print(try parsePrintItems())
        case .keyword(.expect):
            advance()
            let condition = try parseExpression()
            var message: String?
            if at(.comma) {
                advance()
                guard case .string(let text) = current.kind else {
                    throw fail(.unexpectedToken, "expected a message string after ',' in 'expect', found \(current.kind.description)")
                }
                advance()
                message = text
            }
            return .expect(condition: condition, message: message)
        case .keyword(.snapshot):
            advance()
            guard case .string(let name) = current.kind else {
                throw fail(.unexpectedToken, "expected the snapshot name as a string after 'snapshot', found \(current.kind.description)")
            }
            advance()
            return .snapshot(name: name)
        case .keyword(.param), .keyword(.global):
            throw fail(.unexpectedToken, "\(token.kind.description) declarations belong at the top level, outside functions and main")
        default:
            return try parseAssignmentOrCall()
        }
    }

    private mutating func parsePrintItems() throws(SyntaxError) -> [PrintItem] {
        var items: [PrintItem] = []
        guard !atStatementEnd() else { return items }
        while true {
            if case .string(let text) = current.kind {
                advance()
                items.append(.text(text))
            } else {
                items.append(.value(try parseExpression()))
            }
            guard at(.comma) else { return items }
            advance()
        }
    }

    private mutating func parseAssignmentOrCall() throws(SyntaxError) -> Statement.Kind {
        let expression = try parseExpression()
        if at(.assign) {
            advance()
            let value = try parseExpression()
            let target: AssignmentTarget
            switch expression.kind {
            case .name(let name): target = .name(name)
            case .slot(let object, let slot): target = .slot(object: object, slot: slot)
            case .element(let array, let index): target = .element(array: array, index: index)
            default:
                report(.invalidAssignmentTarget, "cannot assign to this expression; assign to a name, a slot (x.s) or an element (a[i])", at: expression.location)
                throw SyntaxError()
            }
            return .assign(target, value)
        }
        switch expression.kind {
        case .call, .spawn:
            return .expression(expression)
        case .binary(.equal, _, _):
            report(.statementWithoutEffect, "this comparison does nothing; to assign, write '='", at: expression.location)
        default:
            report(.statementWithoutEffect, "this expression does nothing; only calls and assignments may stand as statements", at: expression.location)
        }
        throw SyntaxError()
    }

    private mutating func parseIf() throws(SyntaxError) -> Statement.Kind {
        advance()
        let condition = try parseExpression()
        var clauses = [ConditionalClause(condition: condition, body: try parseBlock())]
        while true {
            switch upcomingIgnoringNewlines().kind {
            case .keyword(.elif):
                skipNewlines()
                advance()
                let condition = try parseExpression()
                clauses.append(ConditionalClause(condition: condition, body: try parseBlock()))
            case .keyword(.else):
                skipNewlines()
                advance()
                return .if(clauses, else: try parseBlock())
            default:
                return .if(clauses, else: nil)
            }
        }
    }

    private mutating func parseFor() throws(SyntaxError) -> Statement.Kind {
        advance()
        let variable = try expectIdentifier("a loop variable after 'for'")
        guard at(.in) else { throw fail(.unexpectedToken, "expected 'in' after the loop variable, found \(current.kind.description)") }
        advance()
        guard current.kind == .identifier("range") else {
            throw fail(.unexpectedToken, "expected 'range(...)' after 'in' (for loops count over a range), found \(current.kind.description)")
        }
        let range = advance()
        guard at(.leftParen) else { throw fail(.unexpectedToken, "expected '(' after 'range', found \(current.kind.description)") }
        let arguments = try parseArguments()
        let start: Expression?, stop: Expression, step: Expression?
        switch arguments.count {
        case 1: (start, stop, step) = (nil, arguments[0], nil)
        case 2: (start, stop, step) = (arguments[0], arguments[1], nil)
        case 3: (start, stop, step) = (arguments[0], arguments[1], arguments[2])
        default:
            report(.rangeArguments, "range takes 1 to 3 arguments (stop; start, stop; or start, stop, step), but \(arguments.count) were given", at: range.location)
            throw SyntaxError()
        }
        let body = try parseBlock()
        let name = NameReference(name: variable.name, location: variable.location)
        return .forRange(variable: name, start: start, stop: stop, step: step, body: body)
    }
}
