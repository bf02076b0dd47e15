// SharedHeap+MemoryReport: a memory report of the daemon's shared heap now (the `report` op).
//
//   snapshot      every live object, by site (sites are recorded while the shared heap traces:
//                 `setTracing`) or by type, named as registered (`run3.Node`: the run's prefix)
//   difference    from the previous report's census to this one (the heap keeps the last)
//   retention     chains from the frozen objects, the only roots the heap itself knows (a
//                 running run's globals and threads are that run's)
//   leaks         the garbage save-all mode kept (gc.garbage), by group, none of it reachable
//   fragmentation the allocator now
//
// There is no timeline: a heap with no run of its own has nothing to sample over time.
//
// Thread safety: the caller must not be a mutator of the heap; it attaches one for the walk,
// which stops the world (every run in the heap pauses for it).

import HeapCore

extension SharedHeap {
    /// Turns allocation-site tracing on or off for every run in the heap.
    public func setTracing(_ on: Bool) {
        heap.setAllocationTracing(on)
    }

    /// The report (see the file's header).
    public func memoryReport() -> MemoryReport {
        let grouping = MemoryGrouping(sites: heap.allocationSites, typeName: { [heap] id in
            id == heap.weakReferenceType.id ? "weakref" : heap.types.name(of: id)
        })
        heap.attachCurrentThread()
        defer { heap.detachCurrentThread() }
        let seconds = Double(Run.now() - created) / 1e9
        let census = heap.stopTheWorld { () -> MemoryDiagnostics.Census in
            let groups = heap.censusWorldStopped()
            let largest = grouping.totals(groups).prefix(MemoryReport.maximumChains).map(\.key)
            let search = grouping.search(in: heap, roots: [], isCounted: { _ in true }, keys: largest)
            let retention = grouping.totals(groups).prefix(MemoryReport.maximumChains).compactMap { key, _ in
                search.chains[key].map { MemoryReport.Retention(group: grouping.name(key), chain: $0) }
            }
            return MemoryDiagnostics.Census(name: "now", seconds: seconds, groups: groups, retention: retention,
                                            fragmentation: heap.allocator.fragmentationReport())
        }
        let previous = lastReport.withLock { last -> MemoryDiagnostics.Census? in
            defer { last = census }
            return last
        }
        var saved: [CensusKey: CensusCount] = [:]
        for object in heap.garbage {
            let key = MemoryGrouping.key(CensusKey(site: heap.allocationSites.site(ofObjectAt: object.bits), typeID: object.typeID))
            saved[key, default: CensusCount()].objects += 1
            saved[key]!.bytes += heap.objectBytes(of: object)
        }
        let leaks = grouping.totals(saved).prefix(MemoryReport.maximumEntries).map { key, count in
            MemoryReport.Leak(group: grouping.name(key), objects: count.objects, bytes: count.bytes, unreachable: count.objects, chain: nil,
                              finalizerCycle: saved.keys.contains { MemoryGrouping.key($0) == key && heap.types.description(of: $0.typeID)?.type.hasFinalizer == true })
        }
        let differences = previous.map { before in
            [MemoryReport.Difference(from: "previous report", to: "now", changes: grouping.changes(from: before.groups, to: census.groups))]
        } ?? []
        return MemoryReport(scope: "shared heap", tracing: heap.isTracingAllocations, snapshots: [grouping.snapshot(census)], differences: differences,
                            leaks: leaks, timeline: [], collectionSeconds: [])
    }
}
