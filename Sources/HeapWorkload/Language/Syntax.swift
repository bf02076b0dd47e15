// Syntax: the tree the parser builds and the checker resolves, which the compiler walks.
//
// One tree serves both stages. The parser leaves every resolution field empty (`.unresolved`,
// `nil`, `[]`); the checker returns the same tree with all of them filled, and a tree inside a
// `CheckedProgram` has no empty one left:
//
//   field                              parser        checker
//   NameReference.binding              .unresolved   .local / .param / .global / .function
//   Call.target                        .unresolved   .function / .builtin
//   SlotReference.resolution           .unresolved   .known(type:index:) / .byName
//   TypeReference.index                nil           index into Program.types
//   *.locals (function, finalizer, main)  []         every local of that body
//
// Declarations of each kind sit in their own array in source order, and resolutions index those
// arrays: `.param(i)` is `program.params[i]`, `.function(i)` is `program.functions[i]`, a type
// index is `program.types[i]`, `.global(i)` is `program.globals[i]`, `.local(i)` is `locals[i]`
// of the enclosing body. Every node carries a 1-based `SourceLocation`: a declaration's is its
// name, a unary or binary expression's is its operator, a call's is its callee (`gc` for
// `gc.collect()`, the `spawn` keyword for a spawn), `x.s` is at its '.', `a[i]` at its '[', and
// a statement's location is its first token.

/// A whole workload file.
public struct Program: Sendable, Equatable {
    public var fileName: String
    public var params: [ParamDeclaration] = []
    public var globals: [GlobalDeclaration] = []
    public var types: [TypeDeclaration] = []
    public var functions: [FunctionDeclaration] = []
    public var main: MainDeclaration?

    /// Most types one program may declare (more is E313). A run registers these and 3 of its
    /// own in its heap, whose type ids number 65,535: a shared heap has room for 15 runs of the
    /// largest programs at once.
    public static let maximumTypes = 4096

    public init(fileName: String) {
        self.fileName = fileName
    }
}

/// `param NAME = constant`: an integer fixed for a run, overridable per run, read-only.
public struct ParamDeclaration: Sendable, Equatable {
    public var name: String
    public var location: SourceLocation
    /// A constant expression over literals and earlier params (see `RunConstants`).
    public var value: Expression
}

/// `global NAME [= constant]`: a variable shared by every thread, `none` unless initialised.
public struct GlobalDeclaration: Sendable, Equatable {
    public var name: String
    public var location: SourceLocation
    /// A constant expression over literals and params, or `none`; nil when absent.
    public var initialValue: Expression?
}

/// `type Name { slot, slot, payload N, finalize { ... } }`.
public struct TypeDeclaration: Sendable, Equatable {
    public var name: String
    public var location: SourceLocation
    /// Named reference slots, in order: slot `index` of `.known(type:index:)` indexes this.
    public var slots: [Identifier]
    /// Raw payload bytes: a constant expression over literals and params; nil means 0.
    public var payload: Expression?
    public var finalizer: Finalizer?
}

/// `finalize { ... }` in a type: runs once when an object of the type is about to be freed.
/// It compiles as a function of one parameter: local 0 is `self`, the object.
public struct Finalizer: Sendable, Equatable {
    public var location: SourceLocation
    public var body: Block
    public var locals: [LocalVariable] = []
}

/// `fn name(a, b) { ... }`. Parameters are locals 0..<parameters.count, assignable like any
/// local; the function returns `none` when it ends without `return`.
public struct FunctionDeclaration: Sendable, Equatable {
    public var name: String
    public var location: SourceLocation
    public var parameters: [Identifier]
    public var body: Block
    public var locals: [LocalVariable] = []
}

/// `main { ... }`: the body the run's first thread executes.
public struct MainDeclaration: Sendable, Equatable {
    public var location: SourceLocation
    public var body: Block
    public var locals: [LocalVariable] = []
}

/// A local of a function, finalizer or main: a register for the compiler. Locals start as
/// `none`; a local is declared by its first assignment in source order.
public struct LocalVariable: Sendable, Equatable {
    public var name: String
    /// Where it is declared: the parameter, or the first assignment.
    public var location: SourceLocation
    /// The type index when every assignment to the local is `new T` of one type T (and it is no
    /// function parameter or loop variable): it then holds a T or none, and slot accesses
    /// through it are `.known`.
    public var knownType: Int?
}

/// A name in a declaration position (a slot, a function parameter).
public struct Identifier: Sendable, Equatable {
    public var name: String
    public var location: SourceLocation
}

/// `{ statements }`.
public struct Block: Sendable, Equatable {
    public var statements: [Statement]
    /// The opening brace.
    public var location: SourceLocation
}

public struct Statement: Sendable, Equatable {
    public var kind: Kind
    public var location: SourceLocation

    public indirect enum Kind: Sendable, Equatable {
        /// `target = value`.
        case assign(AssignmentTarget, Expression)
        /// A call or spawn whose result is dropped.
        case expression(Expression)
        /// `del name`: the variable drops its reference and becomes none.
        case delete(NameReference)
        /// `if c { } elif c { } else { }`: the first clause whose condition holds runs.
        case `if`([ConditionalClause], else: Block?)
        case `while`(condition: Expression, body: Block)
        /// `for v in range(start, stop, step)`: start (default 0), stop and step (default 1)
        /// are evaluated once, before the first iteration; v takes start, start+step, ... while
        /// below stop (above it when step is negative), as Python's range does.
        case forRange(variable: NameReference, start: Expression?, stop: Expression, step: Expression?, body: Block)
        /// `repeat n { }`: runs the body n times (n is evaluated once; 0 or less runs it no time).
        case `repeat`(count: Expression, body: Block)
        case `break`
        case `continue`
        /// `return [value]`; no value returns none.
        case `return`(Expression?)
        /// `print a, "b", c`: the items printed separated by one space, then a newline.
        case print([PrintItem])
        /// `expect condition [, "message"]`: fails the run, citing this line, when false.
        case expect(condition: Expression, message: String?)
        /// `phase "name" { }`: marks and times a section of the run.
        case phase(name: String, body: Block)
        /// `snapshot "name"`: records the live objects by allocation site and type (a run's
        /// memory report; nothing when the run asks for none).
        case snapshot(name: String)
    }
}

public struct ConditionalClause: Sendable, Equatable {
    public var condition: Expression
    public var body: Block
}

public enum AssignmentTarget: Sendable, Equatable {
    case name(NameReference)
    /// `object.slot = value`.
    case slot(object: Expression, slot: SlotReference)
    /// `array[index] = value`.
    case element(array: Expression, index: Expression)
}

public enum PrintItem: Sendable, Equatable {
    case text(String)
    case value(Expression)
}

public struct Expression: Sendable, Equatable {
    public var kind: Kind
    public var location: SourceLocation

    public indirect enum Kind: Sendable, Equatable {
        /// An integer literal; `true` and `false` are the integers 1 and 0.
        case integer(Int64)
        case none
        /// A variable, param or global (or, only as the callback argument of `weak`, a function).
        case name(NameReference)
        /// The object being finalized (only inside `finalize`; local 0 of the finalizer).
        case selfObject
        case unary(UnaryOperator, Expression)
        case binary(BinaryOperator, Expression, Expression)
        /// `and` / `or`: the right side is evaluated only when the left does not decide; the
        /// value is the operand that decided, as in Python.
        case logical(LogicalOperator, Expression, Expression)
        case call(Call)
        /// `spawn f(args)`: starts a thread running user function f; its value is the thread handle.
        case spawn(Call)
        /// `object.slot`.
        case slot(Expression, SlotReference)
        /// `array[index]`.
        case element(Expression, index: Expression)
        /// `new T`: a fresh object, every slot none, payload zeroed.
        case newObject(TypeReference)
        /// `new [n]`: a fresh array of n reference slots, all none.
        case newArray(count: Expression)
    }
}

public enum UnaryOperator: String, Sendable, Equatable {
    case negate = "-"
    case not
}

/// Binary operators on integers (and `==`/`!=` on anything: identity for references).
/// `/` and `%` round toward negative infinity, as Python's `//` and `%` do; overflow, division
/// by zero and negative shift counts are run-time errors.
public enum BinaryOperator: String, Sendable, Equatable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", remainder = "%"
    case shiftLeft = "<<", shiftRight = ">>", bitAnd = "&", bitOr = "|", bitXor = "^"
    case equal = "==", notEqual = "!=", less = "<", lessEqual = "<=", greater = ">", greaterEqual = ">="

    public var isComparison: Bool {
        switch self {
        case .equal, .notEqual, .less, .lessEqual, .greater, .greaterEqual: true
        default: false
        }
    }
}

public enum LogicalOperator: String, Sendable, Equatable {
    case and, or
}

/// A use of a variable name, with what the checker found it to be.
public struct NameReference: Sendable, Equatable {
    public var name: String
    public var location: SourceLocation
    public var binding: Binding

    public init(name: String, location: SourceLocation, binding: Binding = .unresolved) {
        self.name = name
        self.location = location
        self.binding = binding
    }
}

public enum Binding: Sendable, Equatable {
    case unresolved
    /// Index into the enclosing body's `locals`.
    case local(Int)
    /// Index into `Program.params` (read-only).
    case param(Int)
    /// Index into `Program.globals`.
    case global(Int)
    /// Index into `Program.functions`: only as the callback argument of `weak`.
    case function(Int)
}

/// `name(arguments)`, `gc.name(arguments)`, or the call inside `spawn`.
public struct Call: Sendable, Equatable {
    /// As written: `make`, `len`, `gc.collect`.
    public var callee: String
    public var arguments: [Expression]
    public var target: CallTarget = .unresolved
}

public enum CallTarget: Sendable, Equatable {
    case unresolved
    /// Index into `Program.functions`.
    case function(Int)
    case builtin(Builtin)
}

/// The slot name in `object.slot`, with what the checker knows of it.
public struct SlotReference: Sendable, Equatable {
    public var name: String
    public var location: SourceLocation
    public var resolution: SlotResolution = .unresolved
}

public enum SlotResolution: Sendable, Equatable {
    case unresolved
    /// The object's type is known statically: slot `index` of `Program.types[type]`.
    case known(type: Int, index: Int)
    /// Found by name at run time in whatever type the object has (some declared type has it).
    case byName
}

/// The type name in `new T`.
public struct TypeReference: Sendable, Equatable {
    public var name: String
    public var location: SourceLocation
    /// Index into `Program.types`, set by the checker.
    public var index: Int?
}
