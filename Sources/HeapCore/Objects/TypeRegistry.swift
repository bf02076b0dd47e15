// TypeRegistry: the types of a heap's objects.
//
// A type names its reference slots, the raw payload bytes that follow them, and whether it has a
// finalizer (the collector calls the heap's finalizer hook for such objects). An array type has no
// named slots: each object says how many slots it has. A registered type never changes.
//
// Ids. An object's header keeps its type's id in 16 bits, the top value kept for dead objects, so
// ids are 0 ..< capacity with capacity <= maximumTypes. A new type takes the id given back most
// recently, else the lowest id never used:
//
//   registered + free.count == descriptions.count <= capacity
//   descriptions[id] != nil  <=>  id is registered  <=>  byName[descriptions[id].name] == id
//
// When every id is taken, `tryRegister` throws (`TypeRegistryError.full`); `register` treats that
// as misuse, for callers with a fixed few types (tests, the heap's own weak-reference type).
// `unregister` gives an id back: the caller promises that no block of the heap carries it, live or
// dead, and that no one will make an object of the type again (Heap+Types.swift checks the first
// with the world stopped). Ids are never reused behind a live object's back.
//
// `ObjectType` is what hot paths pass around: a few integers, no references, so copying it (or
// reading it from a global) never touches a reference count. Names live in the registry, in
// `TypeDescription`.
//
// Thread safety: every method takes the registry's lock; `Mutator.new` needs none of them, and
// a dying object's header says whether its type has a finalizer (ObjectFlags.hasFinalizer).

/// The shape of a type's objects. Trivial to copy.
public struct ObjectType: Sendable, Hashable {
    public let id: Int
    /// Named reference slots (0 for arrays, whose objects each say how many slots they have).
    public let slotCount: Int
    /// Raw bytes after the slots.
    public let payloadBytes: Int
    /// Objects of this type have a variable number of unnamed slots.
    public let isArray: Bool
    /// The collector runs the heap's finalizer hook on dying objects of this type.
    public let hasFinalizer: Bool

    /// The bytes an object of this type takes with `slots` slots: header, slots, payload.
    @inlinable
    public func objectBytes(slots: Int) -> Int { ObjectHeader.size + slots &* 8 + payloadBytes }
}

/// A type with its names.
public struct TypeDescription: Sendable, Equatable {
    public let type: ObjectType
    public let name: String
    public let slotNames: [String]

    /// The index of the slot called `name`, if the type has one.
    public func slotIndex(named name: String) -> Int? {
        slotNames.firstIndex(of: name)
    }
}

/// Why a type could not be registered.
public enum TypeRegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Every one of the registry's `capacity` ids is taken.
    case full(capacity: Int)

    public var description: String {
        switch self {
        case .full(let capacity): "every one of the heap's \(capacity) type ids is taken"
        }
    }
}

/// `@unchecked Sendable`: `table` is locked.
public final class TypeRegistry: @unchecked Sendable {
    /// Type ids fit the header's 16-bit field; the top id is kept for dead objects.
    public static let maximumTypes = Int(UInt16.max)

    /// Ids are 0 ..< capacity.
    public let capacity: Int

    private struct Table {
        /// By id; nil for an id given back.
        var descriptions: [TypeDescription?] = []
        var byName: [String: Int] = [:]
        /// Ids given back, the most recent last.
        var free: [Int] = []
    }

    private let table = Locked(Table())

    /// A registry of at most `capacity` types (1 to `maximumTypes`; fewer lets a test reach the
    /// limit quickly).
    public init(capacity: Int = TypeRegistry.maximumTypes) {
        require(capacity >= 1 && capacity <= TypeRegistry.maximumTypes, "heapd: a type registry holds 1 to \(TypeRegistry.maximumTypes) types, not \(capacity)")
        self.capacity = capacity
    }

    /// Registers a type, or throws `.full` when every id is taken. Names are unique: registering
    /// a name twice with the same shape returns the existing type; with another shape it is a
    /// misuse.
    public func tryRegister(name: String, slots: [String] = [], payloadBytes: Int = 0, isArray: Bool = false,
                            hasFinalizer: Bool = false) throws(TypeRegistryError) -> ObjectType {
        require(payloadBytes >= 0, "heapd: type \(name): negative payload size")
        require(!isArray || slots.isEmpty, "heapd: type \(name): an array type has no named slots")
        require(Set(slots).count == slots.count, "heapd: type \(name): duplicate slot names")
        let capacity = capacity
        let registered = table.withLock { table -> ObjectType? in
            if let id = table.byName[name], let existing = table.descriptions[id] {
                require(existing.slotNames == slots && existing.type.payloadBytes == payloadBytes
                        && existing.type.isArray == isArray && existing.type.hasFinalizer == hasFinalizer,
                        "heapd: type \(name) is already registered with another shape")
                return existing.type
            }
            let id: Int
            if let reused = table.free.popLast() {
                id = reused
            } else if table.descriptions.count < capacity {
                id = table.descriptions.count
                table.descriptions.append(nil)
            } else {
                return nil
            }
            let type = ObjectType(id: id, slotCount: slots.count, payloadBytes: payloadBytes, isArray: isArray, hasFinalizer: hasFinalizer)
            table.descriptions[id] = TypeDescription(type: type, name: name, slotNames: slots)
            table.byName[name] = id
            return type
        }
        guard let registered else { throw .full(capacity: capacity) }
        return registered
    }

    /// Registers a type that must fit: a full registry is a misuse here (see `tryRegister`).
    @discardableResult
    public func register(name: String, slots: [String] = [], payloadBytes: Int = 0, isArray: Bool = false, hasFinalizer: Bool = false) -> ObjectType {
        do {
            return try tryRegister(name: name, slots: slots, payloadBytes: payloadBytes, isArray: isArray, hasFinalizer: hasFinalizer)
        } catch {
            misuse("heapd: type \(name): \(error)")
        }
    }

    /// Gives `id` back for a later type. The caller promises that no block of the heap carries
    /// it and that nobody will make an object of the type again (Heap.unregisterUnusedTypes
    /// checks the first). Unregistering an id that is not registered is a misuse.
    public func unregister(_ id: Int) {
        table.withLock { table in
            require(id >= 0 && id < table.descriptions.count && table.descriptions[id] != nil, "heapd: type id \(id) is not registered")
            table.byName.removeValue(forKey: table.descriptions[id]!.name)
            table.descriptions[id] = nil
            table.free.append(id)
        }
    }

    public func description(of id: Int) -> TypeDescription? {
        table.withLock { id >= 0 && id < $0.descriptions.count ? $0.descriptions[id] : nil }
    }

    public func description(named name: String) -> TypeDescription? {
        table.withLock { table in table.byName[name].flatMap { table.descriptions[$0] } }
    }

    public func name(of id: Int) -> String {
        description(of: id)?.name ?? "type \(id)"
    }

    /// Types registered now.
    public var count: Int {
        table.withLock { $0.byName.count }
    }

    /// Every registered type, by id.
    public var all: [TypeDescription] {
        table.withLock { $0.descriptions.compactMap { $0 } }
    }
}
