// Expression+Text: an expression written back as source (for `expect` messages and results:
// "expect failed: refcount(a) == 2"). Parentheses are added where precedence needs them.

extension Expression {
    /// The expression as a programmer would write it.
    var sourceText: String { text(within: 0) }

    /// `within`: the binding strength of the surrounding operator (0: none).
    private func text(within outer: Int) -> String {
        switch kind {
        case .integer(let value): return String(value)
        case .none: return "none"
        case .name(let name): return name.name
        case .selfObject: return "self"
        case .unary(let op, let operand):
            let inner = op == .negate ? "-" + operand.text(within: 11) : "not " + operand.text(within: 4)
            return parenthesised(inner, strength: op == .negate ? 11 : 4, within: outer)
        case .binary(let op, let left, let right):
            let strength = op.strength
            return parenthesised("\(left.text(within: strength)) \(op.rawValue) \(right.text(within: strength + 1))", strength: strength, within: outer)
        case .logical(let op, let left, let right):
            let strength = op == .or ? 2 : 3
            return parenthesised("\(left.text(within: strength)) \(op.rawValue) \(right.text(within: strength + 1))", strength: strength, within: outer)
        case .call(let call): return "\(call.callee)(\(call.arguments.map { $0.text(within: 0) }.joined(separator: ", ")))"
        case .spawn(let call): return "spawn \(call.callee)(\(call.arguments.map { $0.text(within: 0) }.joined(separator: ", ")))"
        case .slot(let object, let slot): return "\(object.text(within: 12)).\(slot.name)"
        case .element(let array, let index): return "\(array.text(within: 12))[\(index.text(within: 0))]"
        case .newObject(let type): return "new \(type.name)"
        case .newArray(let count): return "new [\(count.text(within: 0))]"
        }
    }

    private func parenthesised(_ text: String, strength: Int, within outer: Int) -> String {
        strength < outer ? "(\(text))" : text
    }
}

extension BinaryOperator {
    /// Python's precedence, as the parser applies it (higher binds tighter).
    var strength: Int {
        switch self {
        case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual: 5
        case .bitOr: 6
        case .bitXor: 7
        case .bitAnd: 8
        case .shiftLeft, .shiftRight: 9
        case .add, .subtract: 10
        case .multiply, .divide, .remainder: 11
        }
    }
}
