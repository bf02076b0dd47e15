// CompiledProgram: what the compiler hands the interpreter for one run (the constants of the
// run — params, payload sizes, global initial values — are folded in, so a program is compiled
// once per run).
//
//   functions   user functions 0..<F in declaration order, then main (index F), then one per
//               type with a finalizer; each with its code, the source location of every
//               instruction (for run-time errors) and its frame size
//   integers    the integer constants `loadInt` names
//   side tables print lists, expect sites, phase names, snapshot names, slot names (for `x.s` resolved at run
//               time), type layouts

/// One compiled body.
public struct CompiledFunction: Sendable {
    public let name: String
    public let code: [Instruction]
    /// The source location of each instruction.
    public let locations: [SourceLocation]
    /// Registers the frame needs: locals, then temporaries.
    public let frameSize: Int
    public let parameterCount: Int
    /// The names of the locals, registers 0..<localCount of the frame (parameters first; the
    /// rest are temporaries), for reference chains.
    public let localNames: [String]
    public var localCount: Int { localNames.count }
}

/// What a `print` prints, item by item.
public enum PrintOperand: Sendable, Equatable {
    case text(String)
    case register(Int32)
}

/// An `expect` in the source.
public struct ExpectSite: Sendable, Equatable {
    public let location: SourceLocation
    /// The condition as written.
    public let condition: String
    public let message: String?
}

/// A declared type as the run lays it out.
public struct TypeLayout: Sendable, Equatable {
    public let name: String
    public let slots: [String]
    public let payloadBytes: Int
    /// Index into `CompiledProgram.functions` of its finalizer.
    public let finalizer: Int?
}

public struct CompiledProgram: Sendable {
    public let fileName: String
    public let functions: [CompiledFunction]
    public let mainIndex: Int
    public let integers: [Int64]
    public let printLists: [[PrintOperand]]
    public let expects: [ExpectSite]
    public let phases: [String]
    public let slotNames: [String]
    public let types: [TypeLayout]
    public let globalNames: [String]
    /// Initial value of each global (nil: none).
    public let globalInitialValues: [Int64?]
    /// The names of the `snapshot` statements, by index.
    public var snapshots: [String] = []
}
