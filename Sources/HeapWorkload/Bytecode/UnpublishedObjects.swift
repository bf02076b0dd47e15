// UnpublishedObjects: which slot and element stores go into an object that no other thread can
// reach, so that the interpreter may store with a plain load and store instead of an exchange
// (Mutator.storeUnpublished).
//
// An object is unpublished from the `new` (or `newArray`) that puts it in a register until that
// register's value is read as a value: moved or copied, stored into a slot, element or global,
// passed to a call or spawn, handed to a builtin, returned. Using the register as the container
// of a slot or element access does not publish it, nor does comparing it or printing it. Calls
// keep the registers below their base: a callee (and a finalizer or weak callback running inside
// an operation) reaches nothing but its own frame and what is published.
//
// A forward data-flow pass over each body: the set of registers holding an unpublished object,
// intersected where paths meet (a loop head takes the back edge's set too), iterated to a fixed
// point. An opcode this file does not know the effects of empties the set.

enum UnpublishedObjects {
    /// `code` with each `setSlot`/`setElement` (and their `Move` forms) whose container is
    /// unpublished turned into its `Unpublished` form.
    static func rewrite(_ code: [Instruction], frameSize: Int) -> [Instruction] {
        let before = registersBefore(code, frameSize: frameSize)
        var result = code
        for (pc, instruction) in code.enumerated() {
            guard let set = before[pc], set.contains(instruction.a) else { continue }
            switch instruction.op {
            case .setSlot: result[pc].op = .setSlotUnpublished
            case .setSlotMove: result[pc].op = .setSlotUnpublishedMove
            case .setElement: result[pc].op = .setElementUnpublished
            case .setElementMove: result[pc].op = .setElementUnpublishedMove
            default: break
            }
        }
        return result
    }

    /// For each instruction, the registers holding an unpublished object when it starts (nil:
    /// the instruction is never reached).
    static func registersBefore(_ code: [Instruction], frameSize: Int) -> [RegisterSet?] {
        var before = [RegisterSet?](repeating: nil, count: code.count)
        guard !code.isEmpty else { return before }
        before[0] = RegisterSet(capacity: frameSize)
        var worklist = [0]
        while let pc = worklist.popLast() {
            var set = before[pc]!
            let instruction = code[pc]
            apply(instruction, to: &set)
            for next in successors(of: instruction, at: pc) where next < code.count {
                if var existing = before[next] {
                    if existing.formIntersection(set) {
                        before[next] = existing
                        worklist.append(next)
                    }
                } else {
                    before[next] = set
                    worklist.append(next)
                }
            }
        }
        return before
    }

    /// The instructions control may go to after `instruction`.
    static func successors(of instruction: Instruction, at pc: Int) -> [Int] {
        switch instruction.op {
        case .ret, .retNone, .retImmediate: []
        case .jump, .loop: [Int(instruction.a)]
        default: instruction.jumpTarget.map { [pc + 1, Int($0)] } ?? [pc + 1]
        }
    }

    /// What `instruction` does to the set: registers it writes or reads as values leave it; a
    /// `new` or `newArray` adds its destination.
    static func apply(_ instruction: Instruction, to set: inout RegisterSet) {
        let a = instruction.a, b = instruction.b, c = instruction.c, d = instruction.d
        switch instruction.op {
        case .new, .newArray:
            set.insert(a)
        case .loadInt, .loadNone, .clear, .loadGlobal, .add, .subtract, .multiply, .divide, .remainder, .shiftLeft, .shiftRight,
             .bitAnd, .bitOr, .bitXor, .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual, .negate, .not,
             .addImmediate, .getSlot, .getSlotNamed, .getElement, .forStep, .repeatCheck:
            set.remove(a)
        case .move:
            set.remove(a)
            set.remove(b)
        case .storeGlobal, .storeGlobalMove:
            set.remove(b)
        case .setSlot, .setSlotMove, .setSlotNamed, .setSlotNamedMove, .setElement, .setElementMove,
             .setSlotUnpublished, .setSlotUnpublishedMove, .setElementUnpublished, .setElementUnpublishedMove:
            set.remove(c)
        case .ret:
            set.remove(a)
        case .call:
            // The arguments are moved into the callee's frame, which is everything from the base
            // up; the result lands in `c`.
            set.removeAll(from: a)
            set.remove(c)
        case .spawn:
            for register in c..<(c + d) { set.remove(register) }
            set.remove(a)
        case .builtin:
            set.remove(a)
            set.remove(c)
            set.remove(d)
        case .weak:
            set.remove(a)
            set.remove(b)
        case .jump, .loop, .jumpIfFalse, .jumpIfTrue, .jumpUnlessEqual, .jumpUnlessNotEqual, .jumpUnlessLess,
             .jumpUnlessLessEqual, .jumpUnlessGreater, .jumpUnlessGreaterEqual, .jumpIfSlotNone, .jumpIfSlotNotNone,
             .jumpIfSlotNamedNone, .jumpIfSlotNamedNotNone, .jumpUnlessEqualImmediate, .jumpUnlessNotEqualImmediate,
             .jumpUnlessLessImmediate, .jumpUnlessLessEqualImmediate, .jumpUnlessGreaterImmediate,
             .jumpUnlessGreaterEqualImmediate, .forCheck, .checkStep, .setThreshold, .print, .expect, .expectCompare,
             .phaseBegin, .phaseEnd, .snapshot, .retNone, .retImmediate:
            break
        }
    }
}

/// A set of registers of one frame.
struct RegisterSet: Equatable {
    private var words: [UInt64]

    init(capacity: Int) { words = Array(repeating: 0, count: (max(capacity, 1) + 63) / 64) }

    func contains(_ register: Int32) -> Bool {
        let index = Int(register)
        return index >= 0 && index / 64 < words.count && words[index / 64] & (1 << UInt64(index % 64)) != 0
    }

    mutating func insert(_ register: Int32) {
        let index = Int(register)
        guard index >= 0 && index / 64 < words.count else { return }
        words[index / 64] |= 1 << UInt64(index % 64)
    }

    mutating func remove(_ register: Int32) {
        let index = Int(register)
        guard index >= 0 && index / 64 < words.count else { return }
        words[index / 64] &= ~(1 << UInt64(index % 64))
    }

    /// Removes every register from `first` up.
    mutating func removeAll(from first: Int32) {
        let start = max(Int(first), 0)
        for index in start..<(words.count * 64) where words[index / 64] != 0 { remove(Int32(index)) }
    }

    /// Keeps only what `other` holds too; true when that removed something.
    mutating func formIntersection(_ other: RegisterSet) -> Bool {
        var changed = false
        for index in words.indices {
            let kept = words[index] & other.words[index]
            if kept != words[index] { changed = true }
            words[index] = kept
        }
        return changed
    }
}
