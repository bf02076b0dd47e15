// TypeRegistry: the types of a heap's objects.
//
// A type names its reference slots, the raw payload bytes that follow them, and whether it has a
// finalizer (the collector calls the heap's finalizer hook for such objects). An array type has no
// named slots: each object says how many slots it has. Types are registered once and never change;
// ids are dense from 0.
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

/// `@unchecked Sendable`: `descriptions` is locked.
public final class TypeRegistry: @unchecked Sendable {
    /// Type ids fit the header's 16-bit field; the top id is kept for dead objects.
    public static let maximumTypes = Int(UInt16.max)

    private let descriptions = Locked<[TypeDescription]>([])

    public init() {}

    /// Registers a type. Names are unique: registering a name twice with the same shape returns the
    /// existing type; with another shape it is a misuse.
    @discardableResult
    public func register(name: String, slots: [String] = [], payloadBytes: Int = 0, isArray: Bool = false, hasFinalizer: Bool = false) -> ObjectType {
        require(payloadBytes >= 0, "heapd: type \(name): negative payload size")
        require(!isArray || slots.isEmpty, "heapd: type \(name): an array type has no named slots")
        require(Set(slots).count == slots.count, "heapd: type \(name): duplicate slot names")
        return descriptions.withLock { descriptions in
            if let existing = descriptions.first(where: { $0.name == name }) {
                require(existing.slotNames == slots && existing.type.payloadBytes == payloadBytes
                        && existing.type.isArray == isArray && existing.type.hasFinalizer == hasFinalizer,
                        "heapd: type \(name) is already registered with another shape")
                return existing.type
            }
            require(descriptions.count < TypeRegistry.maximumTypes, "heapd: more than \(TypeRegistry.maximumTypes) types")
            let type = ObjectType(id: descriptions.count, slotCount: slots.count, payloadBytes: payloadBytes, isArray: isArray, hasFinalizer: hasFinalizer)
            descriptions.append(TypeDescription(type: type, name: name, slotNames: slots))
            return type
        }
    }

    public func description(of id: Int) -> TypeDescription? {
        descriptions.withLock { id >= 0 && id < $0.count ? $0[id] : nil }
    }

    public func description(named name: String) -> TypeDescription? {
        descriptions.withLock { $0.first { $0.name == name } }
    }

    public func name(of id: Int) -> String {
        description(of: id)?.name ?? "type \(id)"
    }

    public var all: [TypeDescription] {
        descriptions.withLock { $0 }
    }
}
