// Compiler+Expressions: expressions into registers.
//
// `compileExpression(e, into: dest)` leaves e's value in `dest` when one is given (a local being
// assigned, or an argument register), owned by it; otherwise in a register of its choosing: a
// local read in place (no copy, nothing to release) or a fresh temporary.

extension Builtin {
    /// The builtin's number in `builtin` instructions.
    var code: Int32 { Int32(Builtin.allCases.firstIndex(of: self)!) }

    init(code: Int32) { self = Builtin.allCases[Int(code & 0xFFFF)] }

    /// Flag in a `builtin` instruction's operand: the second argument is a temporary to move.
    static let movesSecondArgument: Int32 = 1 << 16

    /// Whether the value may be an object (a temporary holding it must be cleared).
    var mayReturnObject: Bool {
        switch self {
        case .weak, .deref, .recv, .join, .channel: true
        default: false
        }
    }
}

extension BodyCompiler {
    mutating func compileExpression(_ expression: Expression, into dest: Int32?, _ shared: inout SharedTables) -> Operand {
        location = expression.location
        func target() -> Int32 { dest ?? temporary() }
        func result(_ register: Int32, object: Bool) -> Operand {
            Operand(register: register, needsRelease: dest == nil && object)
        }
        switch expression.kind {
        case .integer(let value):
            let register = target()
            emit(.loadInt, register, shared.integer(value))
            return result(register, object: false)
        case .none:
            let register = target()
            emit(.loadNone, register)
            return result(register, object: false)
        case .name(let name):
            switch name.binding {
            case .local(let index):
                guard let dest else { return Operand(register: Int32(index), needsRelease: false) }
                if dest != Int32(index) { emit(.move, dest, Int32(index)) }
                return Operand(register: dest, needsRelease: false)
            case .param(let index):
                let register = target()
                emit(.loadInt, register, shared.integer(context.constants.params[index]))
                return result(register, object: false)
            case .global(let index):
                let register = target()
                emit(.loadGlobal, register, Int32(index))
                return result(register, object: true)
            case .function, .unresolved:
                preconditionFailure("the checker lets functions appear only as weak callbacks")
            }
        case .selfObject:
            guard let dest else { return Operand(register: 0, needsRelease: false) }
            if dest != 0 { emit(.move, dest, 0) }
            return Operand(register: dest, needsRelease: false)
        case .unary(let op, let operand):
            let value = compileExpression(operand, into: nil, &shared)
            let register = dest ?? (value.needsRelease ? value.register : temporary())
            location = expression.location
            emit(op == .negate ? .negate : .not, register, value.register)
            if register != value.register { release(value) }
            return result(register, object: false)
        case .binary(let op, let left, let right):
            // x + n, n + x, x - n with a small constant n: one instruction, no constant register.
            if op == .add || op == .subtract {
                var operand: Expression?, amount: Int32?
                if let n = immediate(right) { operand = left; amount = op == .add ? n : -n }
                else if op == .add, let n = immediate(left) { operand = right; amount = n }
                if let operand, let amount {
                    let x = compileExpression(operand, into: nil, &shared)
                    let register = dest ?? (x.needsRelease ? x.register : temporary())
                    location = expression.location
                    emit(.addImmediate, register, x.register, amount)
                    if register != x.register { release(x) }
                    return result(register, object: false)
                }
            }
            let x = compileExpression(left, into: nil, &shared)
            let y = compileExpression(right, into: nil, &shared)
            // The result (an integer or a truth value) may go into a temporary the operation
            // consumes: writing it releases what the temporary held, so no `clear` follows.
            let register = dest ?? (y.needsRelease ? y.register : x.needsRelease ? x.register : temporary())
            location = expression.location
            emit(op.opcode, register, x.register, y.register)
            if register != y.register { release(y) }
            if register != x.register { release(x) }
            return result(register, object: false)
        case .logical(let op, let left, let right):
            // Into a fresh temporary first: `x = y or x` must read x before x is written.
            let register = temporary()
            _ = compileExpression(left, into: register, &shared)
            location = expression.location
            let decided = emit(op == .and ? .jumpIfFalse : .jumpIfTrue, register)
            _ = compileExpression(right, into: register, &shared)
            patch(decided, to: here)
            guard let dest else { return Operand(register: register, needsRelease: true) }
            emit(.move, dest, register)
            emit(.clear, register)
            return Operand(register: dest, needsRelease: false)
        case .call(let call):
            switch call.target {
            case .function(let index):
                let base = compileArguments(call.arguments, &shared)
                let register = dest ?? base
                location = expression.location
                emit(.call, base, Int32(index), register)
                if dest == nil { nextTemporary = Int(base) + 1 }
                return result(register, object: true)
            case .builtin(let builtin):
                return compileBuiltin(builtin, call.arguments, into: dest, &shared)!
            case .unresolved:
                preconditionFailure("the checker resolves every call")
            }
        case .spawn(let call):
            guard case .function(let index) = call.target else { preconditionFailure("spawn targets a user function") }
            let base = compileArguments(call.arguments, &shared)
            let register = dest ?? base
            location = expression.location
            emit(.spawn, register, Int32(index), base, Int32(call.arguments.count))
            if dest == nil { nextTemporary = Int(base) + 1 }
            return result(register, object: false)
        case .slot(let object, let slot):
            let container = compileExpression(object, into: nil, &shared)
            let register = target()
            location = slot.location
            switch slot.resolution {
            case .known(_, let index): emit(.getSlot, register, container.register, Int32(index))
            default: emit(.getSlotNamed, register, container.register, shared.slotName(slot.name))
            }
            release(container)
            return result(register, object: true)
        case .element(let array, let index):
            let container = compileExpression(array, into: nil, &shared)
            let position = compileExpression(index, into: nil, &shared)
            let register = target()
            location = expression.location
            emit(.getElement, register, container.register, position.register)
            release(position)
            release(container)
            return result(register, object: true)
        case .newObject(let type):
            let register = target()
            emit(.new, register, Int32(type.index!))
            return result(register, object: true)
        case .newArray(let count):
            let size = compileExpression(count, into: nil, &shared)
            let register = target()
            location = expression.location
            emit(.newArray, register, size.register)
            release(size)
            return result(register, object: true)
        }
    }

    /// The arguments of a call, into consecutive temporaries at the top of the stack (the
    /// callee's frame starts at the first); returns the first.
    mutating func compileArguments(_ arguments: [Expression], _ shared: inout SharedTables) -> Int32 {
        let base = Int32(nextTemporary)
        let registers = arguments.map { _ in temporary() }
        for (argument, register) in zip(arguments, registers) {
            _ = compileExpression(argument, into: register, &shared)
        }
        return base
    }

    /// A builtin call; nil for one that returns nothing (a statement).
    mutating func compileBuiltin(_ builtin: Builtin, _ arguments: [Expression], into dest: Int32?, _ shared: inout SharedTables) -> Operand? {
        let location = self.location
        if builtin == .gcSetThreshold {
            let base = compileArguments(arguments, &shared)
            self.location = location
            emit(.setThreshold, base, Int32(arguments.count))
            return nil
        }
        if builtin == .weak {
            let referent = compileExpression(arguments[0], into: nil, &shared)
            var callback: Int32 = -1
            if arguments.count == 2, case .name(let name) = arguments[1].kind, case .function(let index) = name.binding {
                callback = Int32(index)
            }
            let register = dest ?? temporary()
            self.location = location
            emit(.weak, register, referent.register, callback)
            release(referent)
            return Operand(register: register, needsRelease: dest == nil)
        }
        let operands = arguments.map { compileExpression($0, into: nil, &shared) }
        let register: Int32 = builtin.producesValue ? (dest ?? temporary()) : -1
        self.location = location
        // refcount(x) does not count its argument: when x is in a temporary holding its own
        // reference, the second operand (otherwise unused) says so.
        let second: Int32 = builtin == .refcount ? (operands[0].needsRelease ? 1 : 0) : (operands.count > 1 ? operands[1].register : -1)
        // send(ch, x) moves a temporary x into the channel (bit 16 of the builtin operand): the
        // receiver must not find the sender still holding it.
        let moves = builtin == .send && operands[1].needsRelease
        emit(.builtin, register, builtin.code | (moves ? Builtin.movesSecondArgument : 0), operands.first?.register ?? -1, second)
        for (position, operand) in operands.enumerated().reversed() where !(moves && position == 1) { release(operand) }
        guard builtin.producesValue else { return nil }
        return Operand(register: register, needsRelease: dest == nil && builtin.mayReturnObject)
    }
}
