// Instruction: the register bytecode the compiler emits and the interpreter runs.
//
// An instruction is an opcode and four 32-bit operands (a, b, c, d); registers are indices into
// the running function's frame. A frame's registers are its locals (parameters first), then the
// compiler's temporaries. Every register holds one `Word` (Interpreter/Word.swift) and owns the
// reference it holds: an instruction that writes a register releases what was there; the
// compiler clears a temporary that may hold an object once it is used, unless the use moved it.
//
//   operands          meaning
//   r(x)              register x of the current frame
//   k                 index into CompiledProgram.integers
//   L                 an instruction index in the same function (jump target)
//
// The opcodes, by group (operand order a, b, c, d):
//
//   loadInt r, k            loadNone r            move r, r(src)      clear r
//   loadGlobal r, g         storeGlobal g, r      storeGlobalMove g, r
//   arithmetic  op r(dst), r(x), r(y)             (add … bitXor, eq … ge; neg/not: dst, x)
//   jump L                  loop L (a back-edge: also a safepoint poll)
//   jumpIfFalse r, L        jumpIfTrue r, L       jumpUnless<cmp> r(x), r(y), L
//   jumpIfSlotNone obj, slot, L    jumpIfSlotNotNone obj, slot, L     (`x.s == none` tests)
//   jumpIfSlotNamedNone obj, name, L    jumpIfSlotNamedNotNone obj, name, L
//   addImmediate r, r(x), n          (n: a small integer, −2^29 … 2^29, in the operand itself)
//   jumpUnless<cmp>Immediate r(x), n, L
//   new r, type             newArray r, r(count)
//   getSlot r, obj, slot    getSlotNamed r, obj, name
//   setSlot obj, slot, r    setSlotMove obj, slot, r   setSlotNamed(Move) obj, name, r
//   getElement r, arr, i    setElement arr, i, r       setElementMove arr, i, r
//   setSlotUnpublished(Move) obj, slot, r   setElementUnpublished(Move) arr, i, r
//                           (the container is an object no other thread can reach: plain stores;
//                           UnpublishedObjects.swift says which)
//   call base, function, dst      spawn dst, function, base, count
//   ret r                   retNone               retImmediate n   (`return 3`: n in the operand)
//   forCheck cur, stop, step, L (exit)   forStep cur, stop, step, L (back to the body)
//   repeatCheck counter, L   checkStep step
//   builtin dst, builtin, x, y    (x, y: argument registers, -1 when absent)
//   weak dst, referent, function  (function -1: no callback)
//   setThreshold base, count      print list              expect r, site
//   expectCompare x, y, site, cmp phaseBegin phase        phaseEnd phase
//   snapshot name            (name: index into CompiledProgram.snapshots)

/// One bytecode operation.
public enum Opcode: UInt8, Sendable {
    case loadInt, loadNone, move, clear
    case loadGlobal, storeGlobal, storeGlobalMove
    case add, subtract, multiply, divide, remainder, shiftLeft, shiftRight, bitAnd, bitOr, bitXor
    case equal, notEqual, less, lessEqual, greater, greaterEqual
    case negate, not
    case jump, loop, jumpIfFalse, jumpIfTrue
    case jumpUnlessEqual, jumpUnlessNotEqual, jumpUnlessLess, jumpUnlessLessEqual, jumpUnlessGreater, jumpUnlessGreaterEqual
    case jumpIfSlotNone, jumpIfSlotNotNone, jumpIfSlotNamedNone, jumpIfSlotNamedNotNone
    case addImmediate
    case jumpUnlessEqualImmediate, jumpUnlessNotEqualImmediate, jumpUnlessLessImmediate, jumpUnlessLessEqualImmediate
    case jumpUnlessGreaterImmediate, jumpUnlessGreaterEqualImmediate
    case new, newArray
    case getSlot, getSlotNamed, setSlot, setSlotMove, setSlotNamed, setSlotNamedMove
    case getElement, setElement, setElementMove
    case setSlotUnpublished, setSlotUnpublishedMove, setElementUnpublished, setElementUnpublishedMove
    case call, spawn, ret, retNone, retImmediate
    case forCheck, forStep, repeatCheck, checkStep
    case builtin, weak, setThreshold
    case print, expect, expectCompare, phaseBegin, phaseEnd, snapshot
}

/// 20 bytes: the opcode and four operands (see the table above).
public struct Instruction: Sendable, Equatable {
    public var op: Opcode
    public var a: Int32
    public var b: Int32
    public var c: Int32
    public var d: Int32

    init(_ op: Opcode, _ a: Int32 = 0, _ b: Int32 = 0, _ c: Int32 = 0, _ d: Int32 = 0) {
        self.op = op
        self.a = a
        self.b = b
        self.c = c
        self.d = d
    }
}

extension Instruction {
    /// The operand that holds a jump's target (an instruction index in the same function); nil
    /// for an opcode that does not jump. The compiler patches it; UnpublishedObjects follows it.
    static func jumpOperand(_ op: Opcode) -> WritableKeyPath<Instruction, Int32>? {
        switch op {
        case .jump, .loop: \.a
        case .jumpIfFalse, .jumpIfTrue, .repeatCheck: \.b
        case .forCheck, .forStep: \.d
        case .jumpUnlessEqual, .jumpUnlessNotEqual, .jumpUnlessLess, .jumpUnlessLessEqual, .jumpUnlessGreater, .jumpUnlessGreaterEqual,
             .jumpUnlessEqualImmediate, .jumpUnlessNotEqualImmediate, .jumpUnlessLessImmediate, .jumpUnlessLessEqualImmediate,
             .jumpUnlessGreaterImmediate, .jumpUnlessGreaterEqualImmediate,
             .jumpIfSlotNone, .jumpIfSlotNotNone, .jumpIfSlotNamedNone, .jumpIfSlotNamedNotNone:
            \.c
        default: nil
        }
    }

    /// Where the instruction may jump (nil: it does not).
    var jumpTarget: Int32? { Instruction.jumpOperand(op).map { self[keyPath: $0] } }
}

extension BinaryOperator {
    /// The arithmetic or comparison opcode computing this operator into a register.
    var opcode: Opcode {
        switch self {
        case .add: .add
        case .subtract: .subtract
        case .multiply: .multiply
        case .divide: .divide
        case .remainder: .remainder
        case .shiftLeft: .shiftLeft
        case .shiftRight: .shiftRight
        case .bitAnd: .bitAnd
        case .bitOr: .bitOr
        case .bitXor: .bitXor
        case .equal: .equal
        case .notEqual: .notEqual
        case .less: .less
        case .lessEqual: .lessEqual
        case .greater: .greater
        case .greaterEqual: .greaterEqual
        }
    }

    /// For a comparison, the fused compare-and-branch that jumps when the comparison is false.
    var jumpUnless: Opcode? {
        switch self {
        case .equal: .jumpUnlessEqual
        case .notEqual: .jumpUnlessNotEqual
        case .less: .jumpUnlessLess
        case .lessEqual: .jumpUnlessLessEqual
        case .greater: .jumpUnlessGreater
        case .greaterEqual: .jumpUnlessGreaterEqual
        default: nil
        }
    }

    /// The same, against an immediate integer.
    var jumpUnlessImmediate: Opcode? {
        switch self {
        case .equal: .jumpUnlessEqualImmediate
        case .notEqual: .jumpUnlessNotEqualImmediate
        case .less: .jumpUnlessLessImmediate
        case .lessEqual: .jumpUnlessLessEqualImmediate
        case .greater: .jumpUnlessGreaterImmediate
        case .greaterEqual: .jumpUnlessGreaterEqualImmediate
        default: nil
        }
    }

    /// The comparison an `expectCompare` carries (its `d` operand) and back.
    static let comparisons: [BinaryOperator] = [.equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual]
}
