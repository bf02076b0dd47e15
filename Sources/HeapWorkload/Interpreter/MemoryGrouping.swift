// MemoryGrouping: how censuses (HeapCore's live objects by site and type) become a memory
// report's entries — for a run's snapshots (Run+MemoryReport.swift) and for the shared heap's
// `report` (SharedHeap+MemoryReport.swift).
//
//   group of (site, type)   the site alone when one was recorded, else the type alone
//                           (key: site with type -1, or site 0 with the type)
//   name                    `file:line function`, or `(no site) Type`
//   order                   most bytes first, then most objects, then name
//   changes                 per group, now − before; the largest |Δ bytes| first
//                           (tracemalloc's compare_to)

import HeapCore

struct MemoryGrouping {
    let sites: AllocationSites
    let typeName: (Int) -> String

    /// The group of a census key.
    static func key(_ key: CensusKey) -> CensusKey {
        key.site != 0 ? CensusKey(site: key.site, typeID: -1) : key
    }

    func name(_ key: CensusKey) -> String {
        if key.site != 0, let site = sites.site(key.site) { return site.description }
        return "(no site) \(typeName(key.typeID))"
    }

    /// Groups, in the report's order.
    func totals(_ census: [CensusKey: CensusCount]) -> [(key: CensusKey, value: CensusCount)] {
        var totals: [CensusKey: CensusCount] = [:]
        for (key, count) in census {
            totals[MemoryGrouping.key(key), default: CensusCount()].objects += count.objects
            totals[MemoryGrouping.key(key)]!.bytes += count.bytes
        }
        return totals.sorted { a, b in
            a.value.bytes != b.value.bytes ? a.value.bytes > b.value.bytes
                : a.value.objects != b.value.objects ? a.value.objects > b.value.objects : name(a.key) < name(b.key)
        }
    }

    /// A census as the report shows it: groups and types, the largest `maximumEntries` of each.
    func snapshot(_ census: MemoryDiagnostics.Census) -> MemoryReport.Snapshot {
        let groups = totals(census.groups)
        var types: [Int: CensusCount] = [:]
        for (key, count) in census.groups {
            types[key.typeID, default: CensusCount()].objects += count.objects
            types[key.typeID]!.bytes += count.bytes
        }
        let typeEntries = types.map { MemoryReport.Entry(name: typeName($0.key), objects: $0.value.objects, bytes: $0.value.bytes) }
            .sorted { $0.bytes != $1.bytes ? $0.bytes > $1.bytes : $0.name < $1.name }
        return MemoryReport.Snapshot(
            name: census.name, seconds: census.seconds,
            objects: groups.reduce(0) { $0 + $1.value.objects }, bytes: groups.reduce(0) { $0 + $1.value.bytes },
            groups: groups.prefix(MemoryReport.maximumEntries).map { MemoryReport.Entry(name: name($0.key), objects: $0.value.objects, bytes: $0.value.bytes) },
            types: Array(typeEntries.prefix(MemoryReport.maximumEntries)), retention: census.retention,
            fragmentation: census.fragmentation)
    }

    /// What a search from `roots` found for the groups `keys` (world stopped, by the caller):
    /// a chain to each group reached and how many of its objects were. Only objects whose type
    /// `isCounted` accepts belong to a group.
    func search(in heap: Heap, roots: [ReferenceRoot], isCounted: (Int) -> Bool,
                keys: [CensusKey]) -> (chains: [CensusKey: ReferenceChain], reached: [CensusKey: Int]) {
        let numbers = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
        let search = heap.shortestChainsWorldStopped(from: roots, typeName: typeName, groups: keys.count) { object, site in
            let typeID = object.typeID
            guard isCounted(typeID) else { return nil }
            return numbers[MemoryGrouping.key(CensusKey(site: site, typeID: typeID))]
        }
        var chains: [CensusKey: ReferenceChain] = [:], reached: [CensusKey: Int] = [:]
        for (number, key) in keys.enumerated() {
            chains[key] = search.chains[number]
            reached[key] = search.reached[number]
        }
        return (chains, reached)
    }

    /// The groups that changed most between two censuses.
    func changes(from before: [CensusKey: CensusCount], to after: [CensusKey: CensusCount]) -> [MemoryReport.Growth] {
        let old = Dictionary(uniqueKeysWithValues: totals(before).map { ($0.key, $0.value) })
        let new = Dictionary(uniqueKeysWithValues: totals(after).map { ($0.key, $0.value) })
        return Set(old.keys).union(new.keys).compactMap { key -> MemoryReport.Growth? in
            let was = old[key] ?? CensusCount(), now = new[key] ?? CensusCount()
            guard was != now else { return nil }
            return MemoryReport.Growth(name: name(key), objects: now.objects, bytes: now.bytes,
                                       objectsDelta: now.objects - was.objects, bytesDelta: now.bytes - was.bytes)
        }
        .sorted { abs($0.bytesDelta) != abs($1.bytesDelta) ? abs($0.bytesDelta) > abs($1.bytesDelta) : $0.name < $1.name }
        .prefix(MemoryReport.maximumEntries).map { $0 }
    }
}
