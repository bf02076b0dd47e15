// RunCode: the run's bytecode as the loop reads it — each function's code copied into memory the
// run owns, in the form the loop wants, and the tables its hot operations index.
//
//   jumps       a jump's target operand holds the distance from the instruction after the jump
//               (target − pc − 1), not the index the compiler wrote: the loop moves its
//               instruction pointer by it and keeps no pointer to the function's first
//               instruction live across the dispatch. `pc(of:in:)` turns a position back into
//               the index that `CompiledFunction.locations` is indexed by.
//   slot caches every `x.s` resolved at run time (getSlotNamed, setSlotNamed(Move),
//               jumpIfSlotNamed(Not)None) gets its own cache word, whose number goes in the
//               instruction's unused `d` operand: the heap type id last seen there and its slot,
//               `typeID << 32 | slot`, or `emptyCache`. A hit costs a load and a compare instead
//               of SlotTable's hashing. Any thread may fill an entry: one 64-bit word read and
//               written with relaxed atomics, so a reader sees some whole entry, and every entry
//               ever written is true (a type's slots never change during the run).
//   types       per `new` type index, the heap type and the bytes of one object of it.
//
// Written in init, read-only afterwards but for the slot caches. Owns every pointer it holds
// (freed in deinit); the loop borrows them for the run's lifetime.

import HeapCore
import Synchronization

/// A function ready to run: its code in memory owned by the run.
struct FunctionEntry {
    let code: UnsafeMutablePointer<Instruction>
    /// Per instruction, the heap's allocation-site id of a `new` (0 elsewhere): what
    /// `recordAllocationSite` is given when tracing is on.
    let sites: UnsafeMutablePointer<UInt32>
    let frameSize: Int
    let parameterCount: Int
    /// The locals (parameters first) are registers 0..<localCount of the frame.
    let localCount: Int
}

/// A type `new` makes, with the size of its objects precomputed.
struct NewType {
    let type: ObjectType
    let bytes: Int
}

struct RunCode: ~Copyable {
    /// A slot cache entry that matches no type (type ids are below 2^16).
    static let emptyCache = UInt64.max

    let functions: UnsafeMutablePointer<FunctionEntry>
    let functionCount: Int
    let slotCaches: UnsafeMutablePointer<Atomic<UInt64>>
    let slotCacheCount: Int
    let newTypes: UnsafeMutablePointer<NewType>
    let newTypeCount: Int

    /// `sites(function, pc)`: the allocation-site id of the instruction (0 when it is not a `new`).
    init(program: CompiledProgram, objectTypes: [ObjectType], sites: (CompiledFunction, Int) -> UInt32) {
        functionCount = program.functions.count
        functions = .allocate(capacity: max(functionCount, 1))
        var caches = 0
        for (index, function) in program.functions.enumerated() {
            let code = UnsafeMutablePointer<Instruction>.allocate(capacity: max(function.code.count, 1))
            let siteTable = UnsafeMutablePointer<UInt32>.allocate(capacity: max(function.code.count, 1))
            for (pc, compiled) in function.code.enumerated() {
                var instruction = compiled
                if let operand = Instruction.jumpOperand(instruction.op) {
                    instruction[keyPath: operand] = instruction[keyPath: operand] - Int32(pc) - 1
                }
                if RunCode.isNamedSlotAccess(instruction.op) {
                    instruction.d = Int32(caches)
                    caches += 1
                }
                (code + pc).initialize(to: instruction)
                siteTable[pc] = sites(function, pc)
            }
            (functions + index).initialize(to: FunctionEntry(code: code, sites: siteTable, frameSize: function.frameSize,
                                                             parameterCount: function.parameterCount, localCount: function.localCount))
        }
        slotCacheCount = caches
        slotCaches = .allocate(capacity: max(caches, 1))
        for index in 0..<max(caches, 1) { (slotCaches + index).initialize(to: Atomic(RunCode.emptyCache)) }
        newTypeCount = objectTypes.count
        newTypes = .allocate(capacity: max(objectTypes.count, 1))
        for (index, type) in objectTypes.enumerated() {
            (newTypes + index).initialize(to: NewType(type: type, bytes: type.objectBytes(slots: type.slotCount)))
        }
    }

    deinit {
        for index in 0..<functionCount {
            functions[index].code.deallocate()
            functions[index].sites.deallocate()
        }
        functions.deallocate()
        slotCaches.deallocate()
        newTypes.deallocate()
    }

    static func isNamedSlotAccess(_ op: Opcode) -> Bool {
        switch op {
        case .getSlotNamed, .setSlotNamed, .setSlotNamedMove, .jumpIfSlotNamedNone, .jumpIfSlotNamedNotNone: true
        default: false
        }
    }

    /// The index (into the compiled function's code and locations) of the instruction at `position`.
    func pc(of position: UnsafeMutablePointer<Instruction>, in function: Int) -> Int {
        position - functions[function].code
    }

}
