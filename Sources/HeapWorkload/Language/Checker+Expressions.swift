// Checker+Expressions: expressions in bodies (names, self, calls, spawn, slots, new) and the
// constant expressions of param values, global initial values and payload sizes.
//
// Calls resolve by callee name: `gc.x` to a gc builtin (E311 if there is none), a top-level
// function name to that function, a builtin name to the builtin; anything else is E411 (a
// variable, param, global or type) or E302 (nothing). Builtins that return nothing may only
// be called as statements (E410). The second argument of `weak` is the one place a function
// name is a value: it must name a function of one parameter (E407).

extension Checker {
    /// Checks `expression` and resolves what it names. `asStatement`: its value is dropped (an
    /// expression statement), so builtins that return nothing may be called.
    mutating func checkExpression(_ expression: Expression, asStatement: Bool = false) -> Expression {
        var checked = expression
        switch expression.kind {
        case .integer, .none:
            break
        case .name(let name):
            checked.kind = .name(resolveRead(name))
        case .selfObject:
            if case .finalizer = body.kind {} else {
                report(.selfOutsideFinalizer, "'self' is only defined inside a finalize block", at: expression.location)
            }
        case .unary(let op, let operand):
            checked.kind = .unary(op, checkExpression(operand))
        case .binary(let op, let left, let right):
            checked.kind = .binary(op, checkExpression(left), checkExpression(right))
        case .logical(let op, let left, let right):
            checked.kind = .logical(op, checkExpression(left), checkExpression(right))
        case .call(let call):
            checked.kind = .call(checkCall(call, at: expression.location, asStatement: asStatement))
        case .spawn(let call):
            checked.kind = .spawn(checkSpawn(call, at: expression.location))
        case .slot(let object, let slot):
            let object = checkExpression(object)
            checked.kind = .slot(object, resolveSlot(slot, of: object))
        case .element(let array, let index):
            checked.kind = .element(checkExpression(array), index: checkExpression(index))
        case .newObject(var type):
            if case .type(let index) = declarations[type.name] {
                type.index = index
            } else if let declaration = declarations[type.name] {
                report(.unknownType, "'\(type.name)' is a \(declaration.kindName), not a type", at: type.location)
            } else {
                report(.unknownType, "unknown type '\(type.name)'", at: type.location)
            }
            checked.kind = .newObject(type)
        case .newArray(let count):
            checked.kind = .newArray(count: checkExpression(count))
        }
        return checked
    }

    // MARK: Calls

    private mutating func checkCall(_ call: Call, at location: SourceLocation, asStatement: Bool) -> Call {
        var checked = call
        let callee = call.callee
        if case .function(let index) = declarations[callee] {
            checkArity(of: index, call, at: location)
            checked.target = .function(index)
        } else if let builtin = Builtin(rawValue: callee) {
            if !builtin.arity.contains(call.arguments.count) {
                report(.builtinArity, "'\(callee)' takes \(Builtin.describe(arity: builtin.arity)), but \(call.arguments.count) \(call.arguments.count == 1 ? "was" : "were") given", at: location)
            }
            if !asStatement && !builtin.producesValue {
                report(.builtinWithoutValue, "'\(callee)' returns nothing, so it can only be called as a statement", at: location)
            }
            checked.target = .builtin(builtin)
            if builtin == .weak && call.arguments.count == 2 {
                checked.arguments = [checkExpression(call.arguments[0]), checkWeakCallback(call.arguments[1])]
                return checked
            }
        } else if callee.hasPrefix("gc.") {
            report(.unknownGCFunction, "unknown gc function '\(callee)'", at: location)
        } else if body.localIndex[callee] != nil {
            report(.notAFunction, "'\(callee)' is a local variable, not a function", at: location)
        } else if let declaration = declarations[callee] {
            report(.notAFunction, "'\(callee)' is a \(declaration.kindName), not a function", at: location)
        } else {
            report(.unknownFunction, "unknown function '\(callee)'", at: location)
        }
        checked.arguments = call.arguments.map { checkExpression($0) }
        return checked
    }

    private mutating func checkSpawn(_ call: Call, at location: SourceLocation) -> Call {
        var checked = call
        checked.arguments = call.arguments.map { checkExpression($0) }
        if case .function(let index) = declarations[call.callee] {
            checkArity(of: index, call, at: location)
            checked.target = .function(index)
        } else if Builtin(rawValue: call.callee) != nil {
            report(.invalidSpawnTarget, "spawn needs a function of this program; '\(call.callee)' is a builtin", at: location)
        } else if let declaration = declarations[call.callee] {
            report(.invalidSpawnTarget, "spawn needs a function of this program; '\(call.callee)' is a \(declaration.kindName)", at: location)
        } else if body.localIndex[call.callee] != nil {
            report(.invalidSpawnTarget, "spawn needs a function of this program; '\(call.callee)' is a local variable", at: location)
        } else {
            report(.unknownFunction, "unknown function '\(call.callee)'", at: location)
        }
        return checked
    }

    private mutating func checkArity(of function: Int, _ call: Call, at location: SourceLocation) {
        let expected = program.functions[function].parameters.count
        guard call.arguments.count != expected else { return }
        let given = call.arguments.count
        report(.functionArity, "'\(call.callee)' takes \(Builtin.describe(arity: expected...expected)), but \(given) \(given == 1 ? "was" : "were") given", at: location)
    }

    /// The callback argument of `weak(x, callback)`: a function of one parameter, by name.
    private mutating func checkWeakCallback(_ argument: Expression) -> Expression {
        guard case .name(var name) = argument.kind, case .function(let index) = declarations[name.name],
              body.localIndex[name.name] == nil else {
            report(.invalidWeakCallback, "the callback of weak must be the name of a function of one parameter", at: argument.location)
            return argument
        }
        let arity = program.functions[index].parameters.count
        guard arity == 1 else {
            report(.invalidWeakCallback, "the callback of weak takes one parameter (the weak reference); '\(name.name)' takes \(arity)", at: argument.location)
            return argument
        }
        name.binding = .function(index)
        return Expression(kind: .name(name), location: argument.location)
    }

    // MARK: Slots

    /// The type of `object` when it is statically known: `self` in a finalizer, a local with a
    /// known type, or `new T` itself.
    private func staticType(of object: Expression) -> Int? {
        switch object.kind {
        case .selfObject:
            if case .finalizer(let type) = body.kind { return type }
            return nil
        case .name(let name):
            if case .local(let index) = name.binding { return body.locals[index].knownType }
            return nil
        case .newObject(let type):
            return type.index
        default:
            return nil
        }
    }

    mutating func resolveSlot(_ slot: SlotReference, of object: Expression) -> SlotReference {
        var resolved = slot
        if let type = staticType(of: object) {
            if let index = program.types[type].slots.firstIndex(where: { $0.name == slot.name }) {
                resolved.resolution = .known(type: type, index: index)
            } else {
                report(.slotNotInType, "type '\(program.types[type].name)' has no slot '\(slot.name)'", at: slot.location)
            }
        } else if slotNames.contains(slot.name) {
            resolved.resolution = .byName
        } else {
            report(.unknownSlot, "no type has a slot named '\(slot.name)'", at: slot.location)
        }
        return resolved
    }

    // MARK: Constants

    /// Checks a constant expression: integer literals, `true`/`false`, params among the first
    /// `paramsBefore`, and operators. `what` names the place in messages ("a param's value").
    mutating func checkConstant(_ expression: Expression, paramsBefore: Int, _ what: String) -> Expression {
        var checked = expression
        switch expression.kind {
        case .integer:
            break
        case .name(var name):
            switch declarations[name.name] {
            case .param(let index)? where index < paramsBefore:
                name.binding = .param(index)
                checked.kind = .name(name)
            case .param?:
                report(.notConstant, "param '\(name.name)' is declared after this one; \(what) may use only earlier params", at: name.location)
            case .some(let declaration):
                report(.notConstant, "\(what) must be constant, but '\(name.name)' is a \(declaration.kindName)", at: name.location)
            case nil:
                report(.unknownName, "unknown name '\(name.name)'", at: name.location)
            }
        case .unary(let op, let operand):
            checked.kind = .unary(op, checkConstant(operand, paramsBefore: paramsBefore, what))
        case .binary(let op, let left, let right):
            checked.kind = .binary(op, checkConstant(left, paramsBefore: paramsBefore, what), checkConstant(right, paramsBefore: paramsBefore, what))
        case .logical(let op, let left, let right):
            checked.kind = .logical(op, checkConstant(left, paramsBefore: paramsBefore, what), checkConstant(right, paramsBefore: paramsBefore, what))
        default:
            report(.notConstant, "\(what) must be constant: integer literals, params and operators only", at: expression.location)
        }
        return checked
    }
}
