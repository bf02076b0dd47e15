// Parser+Expressions: expressions by precedence climbing, with Python's precedence, lowest first:
//
//   level  operators                      associativity
//   1      or                             left
//   2      and                            left
//   3      not (prefix)                   -
//   4      == != < <= > >=                none: `a < b < c` is E205
//   5      |                              left
//   6      ^                              left
//   7      &                              left
//   8      << >>                          left
//   9      + -                            left
//   10     * / %                          left
//   11     - (prefix)                     -
//   12     f(args)  x.slot  a[i]          postfix, left
//   13     literals, names, self, (expr), new T, new [n], spawn f(args), gc.name(args)
//
// A '-' directly before an integer literal folds into the literal, so that the smallest
// integer, -9223372036854775808, can be written. String literals are not expressions: print,
// phase and expect read them themselves, and anywhere else a string is E206.

extension Parser {
    private static let notLevel = 3
    private static let comparisonLevel = 4

    private enum InfixOperator {
        case binary(BinaryOperator)
        case logical(LogicalOperator)
    }

    /// The infix operator at the current token and its level, if there is one.
    private mutating func infixOperator() -> (InfixOperator, level: Int)? {
        switch current.kind {
        case .keyword(.or): return (.logical(.or), 1)
        case .keyword(.and): return (.logical(.and), 2)
        case .punctuation(let punctuation):
            switch punctuation {
            case .equal: return (.binary(.equal), 4)
            case .notEqual: return (.binary(.notEqual), 4)
            case .less: return (.binary(.less), 4)
            case .lessEqual: return (.binary(.lessEqual), 4)
            case .greater: return (.binary(.greater), 4)
            case .greaterEqual: return (.binary(.greaterEqual), 4)
            case .pipe: return (.binary(.bitOr), 5)
            case .caret: return (.binary(.bitXor), 6)
            case .ampersand: return (.binary(.bitAnd), 7)
            case .shiftLeft: return (.binary(.shiftLeft), 8)
            case .shiftRight: return (.binary(.shiftRight), 8)
            case .plus: return (.binary(.add), 9)
            case .minus: return (.binary(.subtract), 9)
            case .star: return (.binary(.multiply), 10)
            case .slash: return (.binary(.divide), 10)
            case .percent: return (.binary(.remainder), 10)
            default: return nil
            }
        default: return nil
        }
    }

    /// An expression whose operators all have level `minimumLevel` or above.
    mutating func parseExpression(_ minimumLevel: Int = 1) throws(SyntaxError) -> Expression {
        var left: Expression
        if at(.not) && minimumLevel <= Parser.notLevel {
            let token = advance()
            guard enterNesting(at: token.location) else { throw SyntaxError() }
            defer { nesting -= 1 }
            left = Expression(kind: .unary(.not, try parseExpression(Parser.notLevel)), location: token.location)
        } else {
            left = try parseUnary()
        }
        var chain = 0
        defer { nesting -= chain }
        while let (infix, level) = infixOperator(), level >= minimumLevel {
            let token = advance()
            guard enterNesting(at: token.location) else { throw SyntaxError() }
            chain += 1
            let right = try parseExpression(level + 1)
            switch infix {
            case .binary(let binary): left = Expression(kind: .binary(binary, left, right), location: token.location)
            case .logical(let logical): left = Expression(kind: .logical(logical, left, right), location: token.location)
            }
            if level == Parser.comparisonLevel, let (_, nextLevel) = infixOperator(), nextLevel == Parser.comparisonLevel {
                throw fail(.chainedComparison, "comparisons do not chain; write 'a < b and b < c'")
            }
        }
        return left
    }

    private mutating func parseUnary() throws(SyntaxError) -> Expression {
        guard at(.minus) else { return try parsePostfix() }
        let token = advance()
        if case .integer(let magnitude) = current.kind,
           next.kind != .punctuation(.leftParen), next.kind != .punctuation(.dot), next.kind != .punctuation(.leftBracket) {
            advance()
            let value = magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
            return Expression(kind: .integer(value), location: token.location)
        }
        guard enterNesting(at: token.location) else { throw SyntaxError() }
        defer { nesting -= 1 }
        return Expression(kind: .unary(.negate, try parseUnary()), location: token.location)
    }

    private mutating func parsePostfix() throws(SyntaxError) -> Expression {
        var expression = try parsePrimary()
        var chain = 0
        defer { nesting -= chain }
        while true {
            let token = current
            switch token.kind {
            case .punctuation(.leftParen):
                guard case .name(let name) = expression.kind else {
                    throw fail(.notCallable, "only a function name can be called (there are no methods or function values)")
                }
                let call = Call(callee: name.name, arguments: try parseArguments())
                expression = Expression(kind: .call(call), location: expression.location)
            case .punctuation(.dot):
                guard enterNesting(at: token.location) else { throw SyntaxError() }
                chain += 1
                advance()
                let slot = try expectIdentifier("a slot name after '.'")
                let reference = SlotReference(name: slot.name, location: slot.location)
                expression = Expression(kind: .slot(expression, reference), location: token.location)
            case .punctuation(.leftBracket):
                let index = try parseGrouped(closedBy: .rightBracket, "to close the index")
                guard enterNesting(at: token.location) else { throw SyntaxError() }
                chain += 1
                expression = Expression(kind: .element(expression, index: index), location: token.location)
            default:
                return expression
            }
        }
    }

    private mutating func parsePrimary() throws(SyntaxError) -> Expression {
        let token = current
        switch token.kind {
        case .integer(let magnitude):
            advance()
            guard magnitude <= UInt64(Int64.max) else {
                report(.integerTooLarge, "integer literal does not fit in 64 bits (the largest is \(Int64.max))", at: token.location)
                throw SyntaxError()
            }
            return Expression(kind: .integer(Int64(magnitude)), location: token.location)
        case .keyword(.true), .keyword(.false):
            advance()
            return Expression(kind: .integer(token.kind == .keyword(.true) ? 1 : 0), location: token.location)
        case .keyword(.none):
            advance()
            return Expression(kind: .none, location: token.location)
        case .keyword(.self):
            advance()
            return Expression(kind: .selfObject, location: token.location)
        case .identifier(let name):
            advance()
            if name == "gc" && at(.dot) { return try parseGCCall(at: token.location) }
            return Expression(kind: .name(NameReference(name: name, location: token.location)), location: token.location)
        case .punctuation(.leftParen):
            return try parseGrouped(closedBy: .rightParen, "to close the parenthesis")
        case .keyword(.new):
            advance()
            if at(.leftBracket) {
                let count = try parseGrouped(closedBy: .rightBracket, "after the array length")
                return Expression(kind: .newArray(count: count), location: token.location)
            }
            let type = try expectIdentifier("a type name or '[' after 'new'")
            return Expression(kind: .newObject(TypeReference(name: type.name, location: type.location)), location: token.location)
        case .keyword(.spawn):
            advance()
            let callee = try expectIdentifier("the name of a function after 'spawn'")
            guard at(.leftParen) else { throw fail(.unexpectedToken, "expected '(' after the spawned function's name, found \(current.kind.description)") }
            let call = Call(callee: callee.name, arguments: try parseArguments())
            return Expression(kind: .spawn(call), location: token.location)
        case .string:
            report(.misplacedString, "a string literal may only be a print item, a phase name or an expect message", at: token.location)
            advance()
            throw SyntaxError()
        default:
            throw fail(.expectedExpression, "expected an expression, found \(token.kind.description)")
        }
    }

    /// `gc.name(arguments)`, with `gc` consumed and the current token the '.'.
    private mutating func parseGCCall(at location: SourceLocation) throws(SyntaxError) -> Expression {
        advance()
        let name = try expectIdentifier("a gc function name after 'gc.'")
        guard at(.leftParen) else { throw fail(.unexpectedToken, "expected '(' after 'gc.\(name.name)' (gc functions are called), found \(current.kind.description)") }
        let call = Call(callee: "gc." + name.name, arguments: try parseArguments())
        return Expression(kind: .call(call), location: location)
    }

    /// `( expr, expr, ... )` with the current token the '('.
    mutating func parseArguments() throws(SyntaxError) -> [Expression] {
        try enterGroup()
        defer { leaveGroup() }
        var arguments: [Expression] = []
        while !at(.rightParen) {
            arguments.append(try parseExpression())
            guard at(.comma) else { break }
            advance()
        }
        try expect(.rightParen, "to close the argument list")
        return arguments
    }

    /// `( expr )` or `[ expr ]` with the current token the opening bracket.
    private mutating func parseGrouped(closedBy close: Punctuation, _ context: String) throws(SyntaxError) -> Expression {
        try enterGroup()
        defer { leaveGroup() }
        let inner = try parseExpression()
        try expect(close, context)
        return inner
    }

    /// Enters the '(' or '[' at the current token: one level of nesting, and newlines skipped
    /// until `leaveGroup()`. Nested too deep, it reports E204, skips the groups and throws.
    private mutating func enterGroup() throws(SyntaxError) {
        guard enterNesting(at: current.location) else {
            skipNestedGroups()
            throw SyntaxError()
        }
        advance()
        groupDepth += 1
    }

    private mutating func leaveGroup() {
        groupDepth -= 1
        nesting -= 1
    }
}
