// RunTypes: a run's types in its heap's registry — one per type the program declares, then the
// three the interpreter adds (arrays, weak-reference callbacks, boxes) — named with the run's
// prefix ("" in a heap of its own, "run7." in the shared heap: SharedHeap.swift).
//
// Registration is all or nothing: when the registry is full part-way, the types already
// registered are given back at once (no object of them exists yet) and the run fails with
// run.type-limit before it starts. Names never collide with the heap's own `<weakref>`: the
// interpreter's names are in angle brackets too, and a program's cannot be.

import HeapCore

struct RunTypes {
    /// The program's types, in declaration order.
    let objectTypes: [ObjectType]
    let arrayType: ObjectType
    let callbackType: ObjectType
    /// Holds an integer, a channel or a thread handle stored in a slot (slots hold references).
    let boxType: ObjectType

    /// Every type id of the run.
    var ids: [Int] { objectTypes.map(\.id) + [arrayType.id, callbackType.id, boxType.id] }

    /// Registers `program`'s types and the interpreter's under `prefix`, or none of them.
    static func register(_ program: CompiledProgram, prefix: String, in registry: TypeRegistry) throws(TypeRegistryError) -> RunTypes {
        var made: [ObjectType] = []
        do {
            for type in program.types {
                made.append(try registry.tryRegister(name: prefix + type.name, slots: type.slots, payloadBytes: type.payloadBytes,
                                                     hasFinalizer: type.finalizer != nil))
            }
            let arrayType = try registry.tryRegister(name: prefix + "<array>", isArray: true)
            made.append(arrayType)
            let callbackType = try registry.tryRegister(name: prefix + "<callback>", payloadBytes: 8)
            made.append(callbackType)
            let boxType = try registry.tryRegister(name: prefix + "<box>", payloadBytes: 8)
            return RunTypes(objectTypes: Array(made.prefix(program.types.count)), arrayType: arrayType, callbackType: callbackType, boxType: boxType)
        } catch {
            for type in made { registry.unregister(type.id) }
            throw error
        }
    }

    /// The run's error when its types do not fit the heap's registry.
    static func limitError(_ error: TypeRegistryError, program: CompiledProgram, shared: Bool) -> RunError {
        let capacity = switch error { case .full(let capacity): capacity }
        let heap = shared ? "the shared heap" : "the run's heap"
        return RunError(code: .typeLimit,
                        message: "not enough type ids: the run needs \(program.types.count + 3) (\(program.types.count) for its types, 3 for the interpreter's), and fewer of \(heap)'s \(capacity) are free",
                        fileName: program.fileName, line: 0, column: 0, function: "main")
    }
}
