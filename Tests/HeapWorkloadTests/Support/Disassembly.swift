// Disassembly: compiled bodies as one line per instruction, so that compiler tests can state the
// bytecode they expect. Each line is the opcode and its operands (Instruction.swift's table),
// only as many as the opcode has; a `loadInt` shows the integer itself, not its table index:
//   loadInt 1, 5      call 2, 0, 2      jumpIfSlotNotNone 0, 0, 7      retNone

import HeapWorkload
import XCTest

enum Disassembly {
    /// Operands each opcode uses.
    static func arity(_ op: Opcode) -> Int {
        switch op {
        case .retNone: 0
        case .loadNone, .clear, .jump, .loop, .checkStep, .print, .phaseBegin, .phaseEnd, .snapshot, .ret, .retImmediate: 1
        case .loadInt, .move, .loadGlobal, .storeGlobal, .storeGlobalMove, .negate, .not, .jumpIfFalse, .jumpIfTrue,
             .new, .newArray, .repeatCheck, .setThreshold, .expect: 2
        case .add, .subtract, .multiply, .divide, .remainder, .shiftLeft, .shiftRight, .bitAnd, .bitOr, .bitXor,
             .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual,
             .jumpUnlessEqual, .jumpUnlessNotEqual, .jumpUnlessLess, .jumpUnlessLessEqual, .jumpUnlessGreater, .jumpUnlessGreaterEqual,
             .jumpIfSlotNone, .jumpIfSlotNotNone, .getSlot, .getSlotNamed, .setSlot, .setSlotMove, .setSlotNamed, .setSlotNamedMove,
             .getElement, .setElement, .setElementMove, .setSlotUnpublished, .setSlotUnpublishedMove,
             .setElementUnpublished, .setElementUnpublishedMove, .call, .weak, .addImmediate,
             .jumpIfSlotNamedNone, .jumpIfSlotNamedNotNone,
             .jumpUnlessEqualImmediate, .jumpUnlessNotEqualImmediate, .jumpUnlessLessImmediate, .jumpUnlessLessEqualImmediate,
             .jumpUnlessGreaterImmediate, .jumpUnlessGreaterEqualImmediate: 3
        case .spawn, .forCheck, .forStep, .builtin, .expectCompare: 4
        }
    }

    static func lines(_ function: CompiledFunction, in program: CompiledProgram) -> [String] {
        function.code.map { instruction in
            var operands = [instruction.a, instruction.b, instruction.c, instruction.d].prefix(arity(instruction.op)).map { String($0) }
            if instruction.op == .loadInt { operands[1] = String(program.integers[Int(instruction.b)]) }
            return operands.isEmpty ? "\(instruction.op)" : "\(instruction.op) " + operands.joined(separator: ", ")
        }
    }
}

/// `source` checked and compiled with its default constants (nil, and the test fails, when it
/// does not check).
func compiled(_ source: String, file: StaticString = #filePath, line: UInt = #line) -> CompiledProgram? {
    guard let checked = checkedProgram(source, file: file, line: line) else { return nil }
    return Compiler.compile(checked, constants: checked.defaultConstants)
}

/// The disassembly of the body named `name` ("main", a function's name, or "Type.finalize").
func disassembly(_ source: String, of name: String = "main", file: StaticString = #filePath, line: UInt = #line) -> [String] {
    guard let program = compiled(source, file: file, line: line) else { return [] }
    guard let function = program.functions.first(where: { $0.name == name }) else {
        XCTFail("no compiled body named \(name)", file: file, line: line)
        return []
    }
    return Disassembly.lines(function, in: program)
}
