// SyntaxDump: a compact S-expression rendering of the syntax tree, so that tests can state the
// shape they expect in one line. Resolutions show after '@' once the checker has filled them:
//   x@local0  x@param1  x@global0  cb@fn2          (call make@fn0 ...)  (call len@builtin ...)
//   (. n left@0.0) (type 0, slot 0)  (. n left@byName)  (new Node@0)
// Unresolved trees (from parseSyntax) show bare names. Locations are left out; tests that care
// about a location check it directly.

import HeapWorkload

enum SyntaxDump {
    static func dump(_ program: Program) -> String {
        var lines: [String] = []
        for param in program.params { lines.append("param \(param.name) = \(dump(param.value))") }
        for global in program.globals {
            lines.append("global \(global.name)" + (global.initialValue.map { " = \(dump($0))" } ?? ""))
        }
        for type in program.types {
            var items = type.slots.map(\.name)
            if let payload = type.payload { items.append("payload \(dump(payload))") }
            if let finalizer = type.finalizer { items.append("finalize \(dump(finalizer.body))") }
            lines.append("type \(type.name) {\(items.joined(separator: ", "))}")
        }
        for function in program.functions {
            lines.append("fn \(function.name)(\(function.parameters.map(\.name).joined(separator: ", "))) \(dump(function.body))")
        }
        if let main = program.main { lines.append("main \(dump(main.body))") }
        return lines.joined(separator: "\n")
    }

    static func dump(_ block: Block) -> String {
        "{" + block.statements.map { dump($0) }.joined(separator: "; ") + "}"
    }

    static func dump(_ statement: Statement) -> String {
        switch statement.kind {
        case .assign(let target, let value):
            let left: String
            switch target {
            case .name(let name): left = dump(name)
            case .slot(let object, let slot): left = "(. \(dump(object)) \(dump(slot)))"
            case .element(let array, let index): left = "([] \(dump(array)) \(dump(index)))"
            }
            return "(= \(left) \(dump(value)))"
        case .expression(let expression): return dump(expression)
        case .delete(let name): return "(del \(dump(name)))"
        case .if(let clauses, let otherwise):
            let parts = clauses.map { "(\(dump($0.condition)) \(dump($0.body)))" } + (otherwise.map { ["else \(dump($0))"] } ?? [])
            return "(if " + parts.joined(separator: " ") + ")"
        case .while(let condition, let body): return "(while \(dump(condition)) \(dump(body)))"
        case .forRange(let variable, let start, let stop, let step, let body):
            return "(for \(dump(variable)) \(start.map { dump($0) } ?? "_") \(dump(stop)) \(step.map { dump($0) } ?? "_") \(dump(body)))"
        case .repeat(let count, let body): return "(repeat \(dump(count)) \(dump(body)))"
        case .break: return "break"
        case .continue: return "continue"
        case .return(let value): return value.map { "(return \(dump($0)))" } ?? "(return)"
        case .print(let items):
            let parts = items.map { item -> String in
                switch item {
                case .text(let text): return "\"\(text)\""
                case .value(let value): return dump(value)
                }
            }
            return "(print" + parts.map { " " + $0 }.joined() + ")"
        case .expect(let condition, let message):
            return "(expect \(dump(condition))" + (message.map { " \"\($0)\"" } ?? "") + ")"
        case .phase(let name, let body): return "(phase \"\(name)\" \(dump(body)))"
        case .snapshot(let name): return "(snapshot \"\(name)\")"
        }
    }

    static func dump(_ expression: Expression) -> String {
        switch expression.kind {
        case .integer(let value): return "\(value)"
        case .none: return "none"
        case .name(let name): return dump(name)
        case .selfObject: return "self"
        case .unary(let op, let operand): return "(\(op.rawValue) \(dump(operand)))"
        case .binary(let op, let left, let right): return "(\(op.rawValue) \(dump(left)) \(dump(right)))"
        case .logical(let op, let left, let right): return "(\(op.rawValue) \(dump(left)) \(dump(right)))"
        case .call(let call): return "(call " + dump(call) + ")"
        case .spawn(let call): return "(spawn " + dump(call) + ")"
        case .slot(let object, let slot): return "(. \(dump(object)) \(dump(slot)))"
        case .element(let array, let index): return "([] \(dump(array)) \(dump(index)))"
        case .newObject(let type): return "(new \(type.name)" + (type.index.map { "@\($0)" } ?? "") + ")"
        case .newArray(let count): return "(new [\(dump(count))])"
        }
    }

    private static func dump(_ call: Call) -> String {
        var callee = call.callee
        switch call.target {
        case .unresolved: break
        case .function(let index): callee += "@fn\(index)"
        case .builtin: callee += "@builtin"
        }
        return ([callee] + call.arguments.map { dump($0) }).joined(separator: " ")
    }

    private static func dump(_ name: NameReference) -> String {
        switch name.binding {
        case .unresolved: name.name
        case .local(let index): "\(name.name)@local\(index)"
        case .param(let index): "\(name.name)@param\(index)"
        case .global(let index): "\(name.name)@global\(index)"
        case .function(let index): "\(name.name)@fn\(index)"
        }
    }

    private static func dump(_ slot: SlotReference) -> String {
        switch slot.resolution {
        case .unresolved: slot.name
        case .known(let type, let index): "\(slot.name)@\(type).\(index)"
        case .byName: "\(slot.name)@byName"
        }
    }
}
