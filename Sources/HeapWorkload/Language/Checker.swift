// Checker: the semantic checks on a parsed program (E3xx, E4xx), and the resolution the
// compiler needs. It returns the program with every resolution field filled (see Syntax.swift)
// and all errors, in one pass over each body; it reports and goes on, so one run shows them all.
//
// Names. One top-level namespace holds params, globals, types and functions; builtin names
// (`len` ... `join`, `gc`, `range`) are reserved. A name in a body resolves, in this order, to
//   1. a local of the body (function parameters are its first locals)
//   2. a param (read-only), a global, a function (only as a weak callback) or a type (only after
//      `new`)
// and otherwise, on assignment, declares a new local. Locals are function-scoped and declared
// in source order: reading a name before its first assignment in the text is E312 even inside
// a loop that assigns it later. Nothing shadows anything: a function parameter may not take a
// top-level name (E306).
//
// Static types. A local that is no function parameter and is only ever assigned `new T` (one T,
// never a loop variable) has known type T, and so does `self` in T's finalizer (`del` does not
// matter: a local of known type holds a T or none, as before its first assignment);
// a slot access through one is checked against T (E305) and resolved to T's slot index.
// Any other slot access is resolved by name at run time, and must name a slot some type has (E304).
// Expressions, calls, slots and constants are checked in Checker+Expressions.

struct Checker {
    private(set) var program: Program
    private(set) var diagnostics: [Diagnostic] = []
    private(set) var declarations: [String: Declaration] = [:]
    private(set) var slotNames: Set<String> = []
    var body = Body(kind: .main)

    /// What a top-level name declares: an index into the program's array of that kind.
    enum Declaration {
        case param(Int), global(Int), type(Int), function(Int)

        var kindName: String {
            switch self {
            case .param: "param"
            case .global: "global"
            case .type: "type"
            case .function: "function"
            }
        }
    }

    /// The body being checked: a function, a finalizer or main.
    struct Body {
        enum Kind: Equatable {
            case function, finalizer(type: Int), main
        }

        var kind: Kind
        var locals: [LocalVariable] = []
        var localIndex: [String: Int] = [:]
        /// Every name the body assigns anywhere (for E312).
        var assigned: Set<String> = []
        /// Names whose every assignment is `new T` of one type: that type's index.
        var knownTypes: [String: Int] = [:]
        var loopDepth = 0
    }

    private init(program: Program) {
        self.program = program
    }

    /// Checks `program`: the resolved program and its errors, and, when there are none, the
    /// run constants with every param at its default.
    static func check(_ program: Program) -> (program: Program, diagnostics: [Diagnostic], defaults: RunConstants?) {
        var checker = Checker(program: program)
        checker.checkProgram()
        guard checker.diagnostics.isEmpty else { return (checker.program, checker.diagnostics, nil) }
        let evaluated = RunConstants.evaluate(checker.program, overrides: [:])
        return (checker.program, evaluated.diagnostics, evaluated.diagnostics.isEmpty ? evaluated.constants : nil)
    }

    mutating func report(_ code: DiagnosticCode, _ message: String, at location: SourceLocation) {
        diagnostics.append(Diagnostic(code, message, at: location))
    }

    // MARK: Declarations

    private mutating func checkProgram() {
        declareTopLevelNames()
        checkTypeCount()
        for index in program.types.indices { checkSlots(ofType: index) }
        for index in program.params.indices {
            program.params[index].value = checkConstant(program.params[index].value, paramsBefore: index, "a param's value")
        }
        for index in program.globals.indices {
            if let value = program.globals[index].initialValue, value.kind != .none {
                program.globals[index].initialValue = checkConstant(value, paramsBefore: program.params.count, "a global's initial value")
            }
        }
        for index in program.types.indices { checkType(index) }
        for index in program.functions.indices { checkFunction(index) }
        guard var main = program.main else {
            report(.missingMain, "the program has no main block", at: .none)
            return
        }
        (main.body, main.locals) = checkBody(main.body, kind: .main, parameters: [])
        program.main = main
    }

    private mutating func declareTopLevelNames() {
        var entries: [(name: String, location: SourceLocation, declaration: Declaration)] = []
        entries += program.params.enumerated().map { ($1.name, $1.location, .param($0)) }
        entries += program.globals.enumerated().map { ($1.name, $1.location, .global($0)) }
        entries += program.types.enumerated().map { ($1.name, $1.location, .type($0)) }
        entries += program.functions.enumerated().map { ($1.name, $1.location, .function($0)) }
        for entry in entries.sorted(by: { $0.location < $1.location }) {
            if Builtin.reservedNames.contains(entry.name) {
                report(.reservedName, "'\(entry.name)' is the name of a builtin and cannot be declared", at: entry.location)
            } else if let earlier = declarations[entry.name] {
                report(.duplicateDeclaration, "'\(entry.name)' is already declared as a \(earlier.kindName) at \(location(of: earlier))", at: entry.location)
            } else {
                declarations[entry.name] = entry.declaration
            }
        }
    }

    /// A program's types share the 65,535 type ids of the heap it runs in (E313 past
    /// `Program.maximumTypes`, at the first type too many).
    private mutating func checkTypeCount() {
        guard program.types.count > Program.maximumTypes else { return }
        let first = program.types[Program.maximumTypes]
        report(.tooManyTypes, "a program declares at most \(Program.maximumTypes) types, and this one declares \(program.types.count); '\(first.name)' is one too many",
               at: first.location)
    }

    func location(of declaration: Declaration) -> SourceLocation {
        switch declaration {
        case .param(let index): program.params[index].location
        case .global(let index): program.globals[index].location
        case .type(let index): program.types[index].location
        case .function(let index): program.functions[index].location
        }
    }

    private mutating func checkSlots(ofType index: Int) {
        var seen: [String: SourceLocation] = [:]
        for slot in program.types[index].slots {
            if let first = seen[slot.name] {
                report(.duplicateSlot, "type '\(program.types[index].name)' already has a slot '\(slot.name)' (at \(first))", at: slot.location)
            } else {
                seen[slot.name] = slot.location
            }
            slotNames.insert(slot.name)
        }
    }

    private mutating func checkType(_ index: Int) {
        if let payload = program.types[index].payload {
            program.types[index].payload = checkConstant(payload, paramsBefore: program.params.count, "a payload size")
        }
        guard var finalizer = program.types[index].finalizer else { return }
        let this = Identifier(name: "self", location: finalizer.location)
        (finalizer.body, finalizer.locals) = checkBody(finalizer.body, kind: .finalizer(type: index), parameters: [this])
        program.types[index].finalizer = finalizer
    }

    private mutating func checkFunction(_ index: Int) {
        var function = program.functions[index]
        var seen: [String: SourceLocation] = [:]
        for parameter in function.parameters {
            if let first = seen[parameter.name] {
                report(.duplicateParameter, "function '\(function.name)' already has a parameter '\(parameter.name)' (at \(first))", at: parameter.location)
            } else if Builtin.reservedNames.contains(parameter.name) {
                report(.reservedName, "'\(parameter.name)' is the name of a builtin and cannot be a parameter", at: parameter.location)
            } else if let declaration = declarations[parameter.name] {
                report(.duplicateDeclaration, "parameter '\(parameter.name)' has the name of the \(declaration.kindName) declared at \(location(of: declaration))", at: parameter.location)
            }
            seen[parameter.name] = seen[parameter.name] ?? parameter.location
        }
        (function.body, function.locals) = checkBody(function.body, kind: .function, parameters: function.parameters)
        program.functions[index] = function
    }

    // MARK: Bodies

    /// Checks one body; its parameters become locals 0..<parameters.count.
    private mutating func checkBody(_ block: Block, kind: Body.Kind, parameters: [Identifier]) -> (Block, [LocalVariable]) {
        body = Body(kind: kind)
        var evidence: [String: Int?] = [:]
        collectAssignments(in: block, into: &evidence)
        body.assigned = Set(evidence.keys)
        body.knownTypes = evidence.compactMapValues { $0 }
        for parameter in parameters {
            var knownType: Int?
            if case .finalizer(let type) = kind { knownType = type }
            declareLocal(parameter.name, at: parameter.location, knownType: knownType)
        }
        let checked = checkBlock(block)
        return (checked, body.locals)
    }

    /// Records, for every name assigned in `block`, the type index when every assignment seen
    /// so far is `new T` of that one type, and nil otherwise.
    private func collectAssignments(in block: Block, into evidence: inout [String: Int?]) {
        func note(_ name: String, _ type: Int?) {
            if let seen = evidence[name] { evidence[name] = seen == type ? type : nil } else { evidence[name] = type }
        }
        for statement in block.statements {
            switch statement.kind {
            case .assign(.name(let name), let value):
                var type: Int?
                if case .newObject(let reference) = value.kind, case .type(let index) = declarations[reference.name] { type = index }
                note(name.name, type)
            case .forRange(let variable, _, _, _, let loop):
                note(variable.name, nil)
                collectAssignments(in: loop, into: &evidence)
            case .if(let clauses, let otherwise):
                for clause in clauses { collectAssignments(in: clause.body, into: &evidence) }
                if let otherwise { collectAssignments(in: otherwise, into: &evidence) }
            case .while(_, let loop), .repeat(_, let loop), .phase(_, let loop):
                collectAssignments(in: loop, into: &evidence)
            case .assign, .expression, .delete, .break, .continue, .return, .print, .expect, .snapshot:
                break
            }
        }
    }

    @discardableResult
    private mutating func declareLocal(_ name: String, at location: SourceLocation, knownType: Int?) -> Int {
        let index = body.locals.count
        body.locals.append(LocalVariable(name: name, location: location, knownType: knownType))
        body.localIndex[name] = index
        return index
    }

    private mutating func checkBlock(_ block: Block) -> Block {
        var checked = block
        checked.statements = block.statements.map { checkStatement($0) }
        return checked
    }

    private mutating func checkLoopBody(_ block: Block) -> Block {
        body.loopDepth += 1
        defer { body.loopDepth -= 1 }
        return checkBlock(block)
    }

    private mutating func checkStatement(_ statement: Statement) -> Statement {
        var checked = statement
        switch statement.kind {
        case .assign(let target, let value):
            let value = checkExpression(value)
            switch target {
            case .name(let name):
                checked.kind = .assign(.name(resolveAssigned(name)), value)
            case .slot(let object, let slot):
                let object = checkExpression(object)
                checked.kind = .assign(.slot(object: object, slot: resolveSlot(slot, of: object)), value)
            case .element(let array, let index):
                checked.kind = .assign(.element(array: checkExpression(array), index: checkExpression(index)), value)
            }
        case .expression(let expression):
            checked.kind = .expression(checkExpression(expression, asStatement: true))
        case .delete(let name):
            checked.kind = .delete(resolveDeleted(name))
        case .if(let clauses, let otherwise):
            let clauses = clauses.map { ConditionalClause(condition: checkExpression($0.condition), body: checkBlock($0.body)) }
            checked.kind = .if(clauses, else: otherwise.map { checkBlock($0) })
        case .while(let condition, let loop):
            let condition = checkExpression(condition)
            checked.kind = .while(condition: condition, body: checkLoopBody(loop))
        case .forRange(let variable, let start, let stop, let step, let loop):
            let start = start.map { checkExpression($0) }
            let stop = checkExpression(stop)
            let step = step.map { checkExpression($0) }
            let variable = resolveAssigned(variable)
            checked.kind = .forRange(variable: variable, start: start, stop: stop, step: step, body: checkLoopBody(loop))
        case .repeat(let count, let loop):
            let count = checkExpression(count)
            checked.kind = .repeat(count: count, body: checkLoopBody(loop))
        case .break, .continue:
            if body.loopDepth == 0 {
                report(.loopControlOutsideLoop, "'\(statement.kind == .break ? "break" : "continue")' outside a loop", at: statement.location)
            }
        case .return(let value):
            if value != nil && body.kind != .function {
                let owner = body.kind == .main ? "main" : "a finalizer"
                report(.returnValueNotAllowed, "\(owner) cannot return a value; write 'return' alone", at: statement.location)
            }
            checked.kind = .return(value.map { checkExpression($0) })
        case .print(let items):
            checked.kind = .print(items.map { item in
                guard case .value(let value) = item else { return item }
                return .value(checkExpression(value))
            })
        case .expect(let condition, let message):
            checked.kind = .expect(condition: checkExpression(condition), message: message)
        case .phase(let name, let block):
            checked.kind = .phase(name: name, body: checkBlock(block))
        case .snapshot:
            break
        }
        return checked
    }

    // MARK: Names

    /// A name read as a value.
    mutating func resolveRead(_ name: NameReference) -> NameReference {
        var resolved = name
        if let index = body.localIndex[name.name] {
            resolved.binding = .local(index)
        } else if let declaration = declarations[name.name] {
            switch declaration {
            case .param(let index): resolved.binding = .param(index)
            case .global(let index): resolved.binding = .global(index)
            case .function:
                report(.notAValue, "function '\(name.name)' is not a value; call it: \(name.name)(...)", at: name.location)
            case .type:
                report(.notAValue, "'\(name.name)' is a type, not a value; create an object with 'new \(name.name)'", at: name.location)
            }
        } else if body.assigned.contains(name.name) {
            report(.usedBeforeAssignment, "'\(name.name)' is used before its first assignment", at: name.location)
        } else if Builtin.reservedNames.contains(name.name) {
            report(.notAValue, "builtin '\(name.name)' is not a value; call it", at: name.location)
        } else {
            report(.unknownName, "unknown name '\(name.name)'", at: name.location)
        }
        return resolved
    }

    /// A name assigned (`name = ...`, a `for` variable): an existing local or global, or a new
    /// local.
    private mutating func resolveAssigned(_ name: NameReference) -> NameReference {
        var resolved = name
        if let index = body.localIndex[name.name] {
            resolved.binding = .local(index)
        } else if let declaration = declarations[name.name] {
            switch declaration {
            case .global(let index): resolved.binding = .global(index)
            case .param:
                report(.assignmentToParam, "cannot assign to param '\(name.name)'; params are read-only (override them per run)", at: name.location)
            case .type, .function:
                report(.assignmentToDeclaration, "cannot assign to \(declaration.kindName) '\(name.name)'", at: name.location)
            }
        } else if Builtin.reservedNames.contains(name.name) {
            report(.reservedName, "'\(name.name)' is the name of a builtin and cannot be a variable", at: name.location)
        } else {
            resolved.binding = .local(declareLocal(name.name, at: name.location, knownType: body.knownTypes[name.name]))
        }
        return resolved
    }

    /// The name in `del name`: a local or a global.
    private mutating func resolveDeleted(_ name: NameReference) -> NameReference {
        if body.localIndex[name.name] == nil, let declaration = declarations[name.name] {
            switch declaration {
            case .param:
                report(.assignmentToParam, "cannot del param '\(name.name)'; params are read-only", at: name.location)
                return name
            case .type, .function:
                report(.assignmentToDeclaration, "cannot del \(declaration.kindName) '\(name.name)'", at: name.location)
                return name
            case .global:
                break
            }
        }
        return resolveRead(name)
    }
}
