// AllocationSites: where objects were made, recorded while tracing is on (tracemalloc's model).
//
//   sites     id -> AllocationSite (file, line, function), interned: one place, one id; id 0 is
//             "no site" (made while tracing was off, or past `maximumSites`)
//   records   object address -> site id, for every live object made while tracing was on,
//             split into `shardCount` shards by address, each behind its own mutex, so that
//             threads allocating at once seldom meet on one lock
//
//   address a has a record  <=>  the object at a was made while tracing was on and has not died
//
// A record goes when its object dies (Mutator.deallocate, Mutator.freeCollectedGarbage), before
// its block can go back to the allocator, so no address carries a stale site into a new object.
// While no record was ever made (`HeapCounters.sitesRecorded` false) that removal is one relaxed
// load on the death path and nothing more; a heap that never traces pays nothing else. With
// tracing on, each `new` and each death of a recorded object costs a lock and a dictionary
// operation (BENCHMARKS.md, "Memory diagnostics").
//
// Thread safety: every method may be called from any thread. `site(ofObjectAt:)` is exact when
// the world is stopped (no object is being made or dying).

import Synchronization

/// A place in a program where objects are made.
public struct AllocationSite: Sendable, Hashable, Codable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var function: String

    public init(file: String, line: Int, function: String) {
        self.file = file
        self.line = line
        self.function = function
    }

    /// `file:line function`, as tracemalloc prints a frame.
    public var description: String { "\(file):\(line) \(function)" }
}

/// `@unchecked Sendable`: every table is behind a mutex.
public final class AllocationSites: @unchecked Sendable {
    /// Distinct sites one heap keeps; later ones record as "no site" (id 0).
    public static let maximumSites = 1 << 16
    static let shardCount = 64

    private struct Interned {
        var sites: [AllocationSite] = []
        var ids: [AllocationSite: UInt32] = [:]
    }

    /// One shard of the records. A final class holding a Mutex (not a `Locked`, whose lock is
    /// a class of its own and whose value pays a dynamic exclusivity check per access): the
    /// records are touched at every traced `new` and death.
    private final class Shard: Sendable {
        let records = Mutex<[UInt: UInt32]>([:])
    }

    private let interned = Mutex(Interned())
    private let shards: [Shard] = (0..<AllocationSites.shardCount).map { _ in Shard() }

    init() {}

    /// The id of `site` (the same one every time it is asked for); 0 once `maximumSites` are taken.
    public func intern(_ site: AllocationSite) -> UInt32 {
        interned.withLock { table in
            if let id = table.ids[site] { return id }
            guard table.sites.count < AllocationSites.maximumSites else { return 0 }
            table.sites.append(site)
            let id = UInt32(table.sites.count)
            table.ids[site] = id
            return id
        }
    }

    /// The site with id `id`; nil for 0 or an id never given.
    public func site(_ id: UInt32) -> AllocationSite? {
        interned.withLock { table in id >= 1 && Int(id) <= table.sites.count ? table.sites[Int(id) - 1] : nil }
    }

    /// Live objects that have a record now.
    public var recordCount: Int {
        shards.reduce(0) { total, shard in total + shard.records.withLock { $0.count } }
    }

    @inline(__always)
    private func shard(of address: UInt) -> Int {
        Int(truncatingIfNeeded: (address >> 5) ^ (address >> 16)) & (AllocationSites.shardCount - 1)
    }

    func record(_ address: UInt, site: UInt32) {
        shards[shard(of: address)].records.withLock { $0[address] = site }
    }

    func forget(_ address: UInt) {
        _ = shards[shard(of: address)].records.withLock { $0.removeValue(forKey: address) }
    }

    /// Calls `body` with every record, one shard locked at a time.
    func forEachRecord(_ body: (UInt, UInt32) -> Void) {
        for shard in shards { shard.records.withLock { for (address, site) in $0 { body(address, site) } } }
    }

    /// The site id recorded for the object at `address`, 0 when none.
    public func site(ofObjectAt address: UInt) -> UInt32 {
        shards[shard(of: address)].records.withLock { $0[address] ?? 0 }
    }
}

extension Heap {
    /// Whether `new` records allocation sites now (the caller's `recordAllocationSite`; off by
    /// default).
    public var isTracingAllocations: Bool {
        counters.pointee.tracingAllocations.load(ordering: .relaxed)
    }

    /// Turns allocation-site tracing on or off for every mutator of the heap. Objects made while
    /// it was on keep their records after it is turned off.
    public func setAllocationTracing(_ on: Bool) {
        counters.pointee.tracingAllocations.store(on, ordering: .relaxed)
    }
}

extension Mutator {
    /// Whether the heap traces allocation sites: one relaxed load, for the caller of `new` to
    /// test before `recordAllocationSite`.
    @inlinable @inline(__always)
    public var tracesAllocations: Bool {
        storage.pointee.counters.pointee.tracingAllocations.load(ordering: .relaxed)
    }

    /// Records that `object`, just made by this mutator, was made at the site `site`
    /// (`AllocationSites.intern`).
    @inline(never)
    public func recordAllocationSite(_ object: ObjectRef, site: UInt32) {
        guard site != 0 else { return }
        if !storage.pointee.counters.pointee.sitesRecorded.load(ordering: .relaxed) {
            storage.pointee.counters.pointee.sitesRecorded.store(true, ordering: .relaxed)
        }
        withHeap { $0.allocationSites.record(object.bits, site: site) }
    }

    /// Drops a dying object's site record, if the heap ever made one (see AllocationSites).
    @inline(__always)
    func forgetAllocationSite(_ object: ObjectRef) {
        if _slowPath(storage.pointee.counters.pointee.sitesRecorded.load(ordering: .relaxed)) {
            withHeap { $0.allocationSites.forget(object.bits) }
        }
    }
}
