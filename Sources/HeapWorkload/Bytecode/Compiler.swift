// Compiler: a checked program and its run constants → CompiledProgram (register bytecode).
//
// One `BodyCompiler` per function, main and finalizer. Registers: the body's locals first (the
// checker numbered them; parameters, and `self` in a finalizer, come first), then temporaries
// allocated as a stack: a statement takes what it needs and gives it all back at its end, a loop
// keeps its hidden registers (stop, step, counter) until it ends. The frame size is the locals
// plus the deepest temporary stack.
//
// Ownership (see Instruction.swift): an expression's value lands in a register that owns it.
// Compiling an expression yields an `Operand`: the register and whether it is a temporary that
// may hold an object; whoever consumes such a temporary either moves it (`setSlotMove`, `ret`,
// call arguments, assignment into the destination) or clears it after use (`release`).
//
// Calls: the arguments are compiled into consecutive temporaries at the top of the temporary
// stack; the callee's frame starts at the first of them, so its parameters are the arguments,
// moved, and nothing of the caller lies above them.

/// Compiles a program for one run.
public enum Compiler {
    public static func compile(_ checked: CheckedProgram, constants: RunConstants) -> CompiledProgram {
        let program = checked.program
        var shared = SharedTables(source: checked.source)
        var functions: [CompiledFunction] = []
        let finalizerBase = program.functions.count + 1
        var finalizerIndex: [Int?] = []
        var next = finalizerBase
        for type in program.types {
            if type.finalizer != nil { finalizerIndex.append(next); next += 1 } else { finalizerIndex.append(nil) }
        }
        let context = Context(program: program, constants: constants)
        for function in program.functions {
            var body = BodyCompiler(context: context, locals: function.locals.map(\.name), kind: .function)
            functions.append(body.compile(function.body, name: function.name, parameters: function.parameters.count, shared: &shared))
        }
        if let main = program.main {
            var body = BodyCompiler(context: context, locals: main.locals.map(\.name), kind: .main)
            functions.append(body.compile(main.body, name: "main", parameters: 0, shared: &shared))
        }
        for type in program.types {
            guard let finalizer = type.finalizer else { continue }
            var body = BodyCompiler(context: context, locals: finalizer.locals.map(\.name), kind: .finalizer)
            functions.append(body.compile(finalizer.body, name: "\(type.name).finalize", parameters: 1, shared: &shared))
        }
        let types = program.types.enumerated().map { index, type in
            TypeLayout(name: type.name, slots: type.slots.map(\.name), payloadBytes: constants.payloads[index], finalizer: finalizerIndex[index])
        }
        return CompiledProgram(
            fileName: program.fileName, functions: functions, mainIndex: program.functions.count,
            integers: shared.integers, printLists: shared.printLists, expects: shared.expects, phases: shared.phases,
            slotNames: shared.slotNames, types: types, globalNames: program.globals.map(\.name),
            globalInitialValues: constants.globals, snapshots: shared.snapshots)
    }
}

/// What every body reads.
struct Context {
    let program: Program
    let constants: RunConstants
}

/// Tables every body adds to.
struct SharedTables {
    let source: SourceText
    var integers: [Int64] = []
    var integerIndex: [Int64: Int32] = [:]
    var printLists: [[PrintOperand]] = []
    var expects: [ExpectSite] = []
    var phases: [String] = []
    var snapshots: [String] = []
    var slotNames: [String] = []
    var slotNameIndex: [String: Int32] = [:]

    init(source: SourceText) { self.source = source }

    mutating func integer(_ value: Int64) -> Int32 {
        if let index = integerIndex[value] { return index }
        integers.append(value)
        integerIndex[value] = Int32(integers.count - 1)
        return Int32(integers.count - 1)
    }

    mutating func slotName(_ name: String) -> Int32 {
        if let index = slotNameIndex[name] { return index }
        slotNames.append(name)
        slotNameIndex[name] = Int32(slotNames.count - 1)
        return Int32(slotNames.count - 1)
    }
}

/// A value in a register, as the compiler knows it.
struct Operand {
    let register: Int32
    /// A temporary that may hold an object: its consumer must move it or clear it.
    let needsRelease: Bool
}

struct BodyCompiler {
    enum Kind { case function, main, finalizer }

    let context: Context
    /// The locals' names: registers 0..<localNames.count.
    let localNames: [String]
    let kind: Kind
    var code: [Instruction] = []
    var locations: [SourceLocation] = []
    var nextTemporary: Int
    var frameSize: Int
    var location = SourceLocation.none
    /// Per enclosing loop: where `continue` goes and the jumps `break` left to patch.
    var loops: [(continueTarget: Int?, continueJumps: [Int], breakJumps: [Int])] = []
    /// Phases open at this point, with the loop depth at which each began: `return` ends them
    /// all, `break` and `continue` those begun inside the loop they leave.
    var openPhases: [(phase: Int32, loopDepth: Int)] = []

    /// Ends the open phases begun at loop depth `depth` or deeper (innermost first).
    mutating func endPhases(from depth: Int) {
        for open in openPhases.reversed() where open.loopDepth >= depth { emit(.phaseEnd, open.phase) }
    }

    init(context: Context, locals localNames: [String], kind: Kind) {
        self.context = context
        self.localNames = localNames
        self.kind = kind
        nextTemporary = localNames.count
        frameSize = localNames.count
    }

    mutating func compile(_ body: Block, name: String, parameters: Int, shared: inout SharedTables) -> CompiledFunction {
        compileBlock(body, &shared)
        location = body.location
        emit(.retNone)
        let size = max(frameSize, 1)
        return CompiledFunction(name: name, code: UnpublishedObjects.rewrite(code, frameSize: size), locations: locations,
                                frameSize: size, parameterCount: parameters, localNames: localNames)
    }

    // MARK: Emitting

    @discardableResult
    mutating func emit(_ op: Opcode, _ a: Int32 = 0, _ b: Int32 = 0, _ c: Int32 = 0, _ d: Int32 = 0) -> Int {
        code.append(Instruction(op, a, b, c, d))
        locations.append(location)
        return code.count - 1
    }

    /// Points the jump at `index` (its jump-target operand) to `target`.
    mutating func patch(_ index: Int, to target: Int) {
        guard let operand = Instruction.jumpOperand(code[index].op) else { preconditionFailure("patching \(code[index].op), which does not jump") }
        code[index][keyPath: operand] = Int32(target)
    }

    var here: Int { code.count }

    mutating func temporary() -> Int32 {
        defer {
            nextTemporary += 1
            frameSize = max(frameSize, nextTemporary)
        }
        return Int32(nextTemporary)
    }

    mutating func release(_ operand: Operand) {
        if operand.needsRelease { emit(.clear, operand.register) }
    }

    // MARK: Statements

    mutating func compileBlock(_ block: Block, _ shared: inout SharedTables) {
        for statement in block.statements { compileStatement(statement, &shared) }
    }

    mutating func compileStatement(_ statement: Statement, _ shared: inout SharedTables) {
        let mark = nextTemporary
        defer { nextTemporary = mark }
        location = statement.location
        switch statement.kind {
        case .assign(.name(let name), let value):
            switch name.binding {
            case .local(let index): _ = compileExpression(value, into: Int32(index), &shared)
            case .global(let index):
                let operand = compileExpression(value, into: nil, &shared)
                emit(operand.needsRelease ? .storeGlobalMove : .storeGlobal, Int32(index), operand.register)
            default: preconditionFailure("the checker allows assigning locals and globals only")
            }
        case .assign(.slot(let object, let slot), let value):
            let target = compileExpression(object, into: nil, &shared)
            let operand = compileExpression(value, into: nil, &shared)
            location = slot.location
            switch slot.resolution {
            case .known(_, let index):
                emit(operand.needsRelease ? .setSlotMove : .setSlot, target.register, Int32(index), operand.register)
            default:
                emit(operand.needsRelease ? .setSlotNamedMove : .setSlotNamed, target.register, shared.slotName(slot.name), operand.register)
            }
            release(target)
        case .assign(.element(let array, let index), let value):
            let target = compileExpression(array, into: nil, &shared)
            let position = compileExpression(index, into: nil, &shared)
            let operand = compileExpression(value, into: nil, &shared)
            emit(operand.needsRelease ? .setElementMove : .setElement, target.register, position.register, operand.register)
            release(position)
            release(target)
        case .expression(let expression):
            if case .call(let call) = expression.kind, case .builtin(let builtin) = call.target, !builtin.producesValue {
                _ = compileBuiltin(builtin, call.arguments, into: nil, &shared)   // a statement: no value
            } else {
                release(compileExpression(expression, into: nil, &shared))
            }
        case .delete(let name):
            switch name.binding {
            case .local(let index): emit(.clear, Int32(index))
            case .global(let index):
                let none = temporary()
                emit(.loadNone, none)
                emit(.storeGlobal, Int32(index), none)
            default: preconditionFailure("the checker allows deleting locals and globals only")
            }
        case .if(let clauses, let otherwise):
            var ends: [Int] = []
            for (position, clause) in clauses.enumerated() {
                let skip = compileJumpUnless(clause.condition, &shared)
                compileBlock(clause.body, &shared)
                if position < clauses.count - 1 || otherwise != nil { ends.append(emit(.jump)) }
                for jump in skip { patch(jump, to: here) }
            }
            if let otherwise { compileBlock(otherwise, &shared) }
            for jump in ends { patch(jump, to: here) }
        case .while(let condition, let body):
            let head = here
            let exits = compileJumpUnless(condition, &shared)
            compileLoopBody(body, continueTarget: head, &shared)
            location = statement.location
            emit(.loop, Int32(head))
            for jump in exits + loops.removeLast().breakJumps { patch(jump, to: here) }
        case .forRange(let variable, let start, let stop, let step, let body):
            let current = temporary(), limit = temporary(), stride = temporary()
            if let start { _ = compileExpression(start, into: current, &shared) } else { emit(.loadInt, current, shared.integer(0)) }
            _ = compileExpression(stop, into: limit, &shared)
            if let step {
                _ = compileExpression(step, into: stride, &shared)
                emit(.checkStep, stride)
            } else {
                emit(.loadInt, stride, shared.integer(1))
            }
            // Checked once on entry; then the step at the bottom checks and jumps back.
            let entry = emit(.forCheck, current, limit, stride)
            let head: Int
            switch variable.binding {
            case .local(let index): head = emit(.move, Int32(index), current)
            case .global(let index): head = emit(.storeGlobal, Int32(index), current)
            default: preconditionFailure("the checker allows locals and globals as loop variables")
            }
            compileLoopBody(body, continueTarget: nil, &shared)
            location = statement.location
            let increment = emit(.forStep, current, limit, stride, Int32(head))
            let exitCheck = entry
            let loop = loops.removeLast()
            for jump in loop.continueJumps { patch(jump, to: increment) }
            patch(exitCheck, to: here)
            for jump in loop.breakJumps { patch(jump, to: here) }
        case .repeat(let count, let body):
            let counter = temporary()
            _ = compileExpression(count, into: counter, &shared)
            let head = emit(.repeatCheck, counter)
            compileLoopBody(body, continueTarget: nil, &shared)
            location = statement.location
            let back = emit(.loop, Int32(head))
            let loop = loops.removeLast()
            for jump in loop.continueJumps { patch(jump, to: back) }
            patch(head, to: here)
            for jump in loop.breakJumps { patch(jump, to: here) }
        case .break:
            endPhases(from: loops.count)
            loops[loops.count - 1].breakJumps.append(emit(.jump))
        case .continue:
            endPhases(from: loops.count)
            if let target = loops[loops.count - 1].continueTarget {
                emit(.loop, Int32(target))
            } else {
                loops[loops.count - 1].continueJumps.append(emit(.jump))
            }
        case .return(let value):
            if let value, let constant = immediate(value) {
                endPhases(from: 0)
                emit(.retImmediate, constant)
            } else if let value {
                let result = compileExpression(value, into: nil, &shared)
                location = statement.location
                endPhases(from: 0)
                emit(.ret, result.register)
            } else {
                endPhases(from: 0)
                emit(.retNone)
            }
        case .print(let items):
            var list: [PrintOperand] = []
            var operands: [Operand] = []
            for item in items {
                switch item {
                case .text(let text): list.append(.text(text))
                case .value(let value):
                    let operand = compileExpression(value, into: nil, &shared)
                    operands.append(operand)
                    list.append(.register(operand.register))
                }
            }
            shared.printLists.append(list)
            location = statement.location
            emit(.print, Int32(shared.printLists.count - 1))
            for operand in operands.reversed() { release(operand) }
        case .expect(let condition, let message):
            let text = condition.sourceText
            shared.expects.append(ExpectSite(location: statement.location, condition: text, message: message))
            let site = Int32(shared.expects.count - 1)
            if case .binary(let op, let left, let right) = condition.kind, op.isComparison {
                let x = compileExpression(left, into: nil, &shared)
                let y = compileExpression(right, into: nil, &shared)
                location = statement.location
                emit(.expectCompare, x.register, y.register, site, Int32(BinaryOperator.comparisons.firstIndex(of: op)!))
                release(y)
                release(x)
            } else {
                let operand = compileExpression(condition, into: nil, &shared)
                location = statement.location
                emit(.expect, operand.register, site)
                release(operand)
            }
        case .phase(let name, let body):
            shared.phases.append(name)
            let phase = Int32(shared.phases.count - 1)
            emit(.phaseBegin, phase)
            openPhases.append((phase, loops.count))
            compileBlock(body, &shared)
            openPhases.removeLast()
            location = statement.location
            emit(.phaseEnd, phase)
        case .snapshot(let name):
            shared.snapshots.append(name)
            emit(.snapshot, Int32(shared.snapshots.count - 1))
        }
    }

    mutating func compileLoopBody(_ body: Block, continueTarget: Int?, _ shared: inout SharedTables) {
        loops.append((continueTarget, [], []))
        compileBlock(body, &shared)
    }

    /// Compiles a test of `condition`; returns the jumps taken when it is false (to patch).
    mutating func compileJumpUnless(_ condition: Expression, _ shared: inout SharedTables) -> [Int] {
        location = condition.location
        switch condition.kind {
        case .binary(let op, let left, let right) where op.isComparison:
            // `x.s == none` / `x.s != none`: look at the slot without taking a reference.
            if op == .equal || op == .notEqual, right.kind == .none, case .slot(let object, let slot) = left.kind {
                let target = compileExpression(object, into: nil, &shared)
                location = condition.location
                let jump: Int
                if case .known(_, let index) = slot.resolution {
                    jump = emit(op == .equal ? .jumpIfSlotNotNone : .jumpIfSlotNone, target.register, Int32(index))
                } else {
                    jump = emit(op == .equal ? .jumpIfSlotNamedNotNone : .jumpIfSlotNamedNone, target.register, shared.slotName(slot.name))
                }
                guard target.needsRelease else { return [jump] }
                // The temporary dies on both paths.
                emit(.clear, target.register)
                let over = emit(.jump)
                let falsePath = here
                emit(.clear, target.register)
                let exit = emit(.jump)
                patch(jump, to: falsePath)
                patch(over, to: here)
                return [exit]
            }
            let x = compileExpression(left, into: nil, &shared)
            if let immediate = immediate(right), !x.needsRelease {
                location = condition.location
                return [emit(op.jumpUnlessImmediate!, x.register, immediate)]
            }
            let y = compileExpression(right, into: nil, &shared)
            location = condition.location
            if !x.needsRelease && !y.needsRelease { return [emit(op.jumpUnless!, x.register, y.register)] }
            let truth = temporary()
            emit(op.opcode, truth, x.register, y.register)
            release(y)
            release(x)
            return [emit(.jumpIfFalse, truth)]
        case .logical(.and, let left, let right):
            return compileJumpUnless(left, &shared) + compileJumpUnless(right, &shared)
        case .unary(.not, let operand):
            let value = compileTruth(operand, &shared)
            return [emit(.jumpIfTrue, value)]
        default:
            break
        }
        let value = compileTruth(condition, &shared)
        return [emit(.jumpIfFalse, value)]
    }

    /// The value of an integer literal or a param, when it fits an immediate operand.
    func immediate(_ expression: Expression) -> Int32? {
        let value: Int64
        switch expression.kind {
        case .integer(let literal): value = literal
        case .name(let name):
            guard case .param(let index) = name.binding else { return nil }
            value = context.constants.params[index]
        default: return nil
        }
        // Not abs(value): it traps on Int64.min (found by the front-end fuzzer).
        return (-(1 << 29)...(1 << 29)).contains(value) ? Int32(value) : nil
    }

    /// The condition as a register holding an integer (an object temporary is turned into its
    /// truth value first, so that it can be cleared before the branch).
    mutating func compileTruth(_ condition: Expression, _ shared: inout SharedTables) -> Int32 {
        let value = compileExpression(condition, into: nil, &shared)
        guard value.needsRelease else { return value.register }
        let truth = temporary()
        emit(.not, truth, value.register)
        emit(.not, truth, truth)
        emit(.clear, value.register)
        return truth
    }
}
