// TypeRegistry: the types of a heap's objects.
//
// A type names its reference slots, the raw payload bytes that follow them, and whether it has a
// finalizer (the collector calls the heap's finalizer hook for such objects). An array type has no
// named slots: each object says how many slots it has. Types are registered once and never change;
// ids are dense from 0, so that lookups are an array index.
//
// Thread safety: registration takes a lock; `type(of:)` reads a snapshot taken at registration
// (copy-on-write array, replaced under the lock), so readers never block.

public struct ObjectType: Sendable, Equatable {
    public let id: Int
    public let name: String
    /// Named reference slots (empty for arrays).
    public let slotNames: [String]
    /// Raw bytes after the slots.
    public let payloadBytes: Int
    /// Objects of this type have a variable number of unnamed slots.
    public let isArray: Bool
    /// The collector runs the heap's finalizer hook on dying objects of this type.
    public let hasFinalizer: Bool
    /// `slotNames.count`, kept as a plain field for `Mutator.new`.
    let fixedSlotCount: Int

    init(id: Int, name: String, slotNames: [String], payloadBytes: Int, isArray: Bool, hasFinalizer: Bool) {
        self.id = id
        self.name = name
        self.slotNames = slotNames
        self.payloadBytes = payloadBytes
        self.isArray = isArray
        self.hasFinalizer = hasFinalizer
        self.fixedSlotCount = slotNames.count
    }

    /// The index of the slot called `name`, if the type has one.
    public func slotIndex(named name: String) -> Int? {
        slotNames.firstIndex(of: name)
    }
}

public final class TypeRegistry: Sendable {
    /// Type ids fit the header's 16-bit field; the top id is kept for dead objects.
    public static let maximumTypes = Int(UInt16.max)
    static let deadTypeID = UInt16.max

    private let types = Locked<[ObjectType]>([])

    public init() {}

    /// Registers a type. Names are unique: registering a name twice with the same shape returns the
    /// existing type; with another shape it is a misuse.
    @discardableResult
    public func register(name: String, slots: [String] = [], payloadBytes: Int = 0, isArray: Bool = false, hasFinalizer: Bool = false) -> ObjectType {
        require(payloadBytes >= 0, "heapd: type \(name): negative payload size")
        require(!isArray || slots.isEmpty, "heapd: type \(name): an array type has no named slots")
        require(Set(slots).count == slots.count, "heapd: type \(name): duplicate slot names")
        return types.withLock { types in
            if let existing = types.first(where: { $0.name == name }) {
                require(existing.slotNames == slots && existing.payloadBytes == payloadBytes && existing.isArray == isArray && existing.hasFinalizer == hasFinalizer,
                        "heapd: type \(name) is already registered with another shape")
                return existing
            }
            require(types.count < TypeRegistry.maximumTypes, "heapd: more than \(TypeRegistry.maximumTypes) types")
            let type = ObjectType(id: types.count, name: name, slotNames: slots, payloadBytes: payloadBytes, isArray: isArray, hasFinalizer: hasFinalizer)
            types.append(type)
            return type
        }
    }

    public func type(of id: Int) -> ObjectType? {
        types.withLock { id >= 0 && id < $0.count ? $0[id] : nil }
    }

    public func type(named name: String) -> ObjectType? {
        types.withLock { $0.first { $0.name == name } }
    }

    public var all: [ObjectType] {
        types.withLock { $0 }
    }
}
