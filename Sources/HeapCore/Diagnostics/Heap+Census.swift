// Heap+Census: the live objects counted by allocation site and type (a tracemalloc snapshot, a
// JVM heap histogram), from one walk of the allocated blocks with the world stopped.
//
//   objects of a group  = live blocks whose header has the group's type and whose record (if
//                         any) has its site; dead blocks waiting for QSBR are not counted
//   bytes of a group    = Σ header + slots × 8 + payload over its objects (what `new` asked
//                         for; the allocator's rounding up to a size class is fragmentation's
//                         business, Allocator+Fragmentation.swift)
//
// Thread safety: `census` stops the world (the caller must be a mutator); `censusWorldStopped`
// is for a caller that has stopped it already.

/// A group of a census: one site (0: none recorded) and one type.
public struct CensusKey: Hashable, Sendable {
    public var site: UInt32
    public var typeID: Int

    public init(site: UInt32, typeID: Int) {
        self.site = site
        self.typeID = typeID
    }
}

/// What a group holds.
public struct CensusCount: Sendable, Equatable {
    public var objects = 0
    public var bytes = 0

    public init(objects: Int = 0, bytes: Int = 0) {
        self.objects = objects
        self.bytes = bytes
    }

    /// One more object of `bytes`.
    public mutating func add(bytes: Int) {
        objects += 1
        self.bytes += bytes
    }
}

extension Heap {
    /// The live objects whose type `including` accepts, by site and type. Stops the world.
    public func census(including: (Int) -> Bool = { _ in true }) -> [CensusKey: CensusCount] {
        stopTheWorld { censusWorldStopped(including: including) }
    }

    /// `census` for the thread that has stopped the world.
    public func censusWorldStopped(including: (Int) -> Bool = { _ in true }) -> [CensusKey: CensusCount] {
        assertWorldStopped()
        let payloads = payloadBytesByTypeID()
        let index = BlockIndex(allocator: allocator, sites: allocationSites)
        var groups: [CensusKey: CensusCount] = [:]
        func visit(_ block: UnsafeMutableRawPointer) {
            let object = ObjectRef(block)
            guard object.header.pointee.gcBits.load(ordering: .relaxed) & GCBits.dead == 0 else { return }
            let typeID = object.typeID
            guard including(typeID) else { return }
            let key = CensusKey(site: index.site(of: object.bits), typeID: typeID)
            let bytes = ObjectHeader.size + object.slotCount * 8 + (typeID < payloads.count ? payloads[typeID] : 0)
            groups[key, default: CensusCount()].add(bytes: bytes)
        }
        for page in index.plan.pages { index.plan.forEachAllocatedBlock(in: page, visit) }
        for block in index.plan.large { visit(block) }
        return groups
    }

    /// The bytes `object` takes: header, slots and its type's payload (as a census counts them).
    public func objectBytes(of object: ObjectRef) -> Int {
        ObjectHeader.size + object.slotCount * 8 + (types.description(of: object.typeID)?.type.payloadBytes ?? 0)
    }

    /// Each registered type's payload bytes, indexed by type id (0 for ids not registered).
    func payloadBytesByTypeID() -> [Int] {
        let all = types.all
        var payloads = Array(repeating: 0, count: (all.map(\.type.id).max() ?? -1) + 1)
        for description in all { payloads[description.type.id] = description.type.payloadBytes }
        return payloads
    }
}
