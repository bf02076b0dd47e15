// Memory diagnostics in HeapCore (issue 17): allocation-site records, the census by site and
// type, shortest reference chains with their cycle facts, and the allocator's fragmentation
// figures for a known pattern of frees.

@testable import HeapCore
import Foundation
import Testing

@Suite struct DiagnosticsTests {
    @Test func sitesAreRecordedOnlyWhileTracingIsOnAndGoWhenTheirObjectsDie() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["next"])
        let here = heap.allocationSites.intern(AllocationSite(file: "t.hw", line: 3, function: "main"))
        let there = heap.allocationSites.intern(AllocationSite(file: "t.hw", line: 9, function: "build"))
        #expect(heap.allocationSites.intern(AllocationSite(file: "t.hw", line: 3, function: "main")) == here)
        #expect(heap.allocationSites.site(there)?.description == "t.hw:9 build")
        withMutator(heap) { m in
            #expect(!m.tracesAllocations)
            let untraced = m.new(node)!
            heap.setAllocationTracing(true)
            #expect(m.tracesAllocations)
            var traced: [ObjectRef] = []
            for index in 0..<10 {
                let object = m.new(node)!
                m.recordAllocationSite(object, site: index < 7 ? here : there)
                traced.append(object)
            }
            heap.setAllocationTracing(false)
            let late = m.new(node)!
            #expect(heap.allocationSites.recordCount == 10)
            let census = heap.census()
            #expect(census[CensusKey(site: here, typeID: node.id)] == CensusCount(objects: 7, bytes: 7 * 40))
            #expect(census[CensusKey(site: there, typeID: node.id)] == CensusCount(objects: 3, bytes: 3 * 40))
            #expect(census[CensusKey(site: 0, typeID: node.id)] == CensusCount(objects: 2, bytes: 2 * 40))
            // Deaths drop their records; a block reused by an untraced object carries none.
            for object in traced.prefix(5) { m.release(object) }
            #expect(heap.allocationSites.recordCount == 5)
            let reused = m.new(node)!
            #expect(heap.allocationSites.site(ofObjectAt: reused.bits) == 0)
            let after = heap.census()
            #expect(after[CensusKey(site: here, typeID: node.id)]?.objects == 2)
            #expect(after[CensusKey(site: 0, typeID: node.id)]?.objects == 3)
            for object in traced.dropFirst(5) + [untraced, late, reused] { m.release(object) }
            #expect(heap.allocationSites.recordCount == 0)
        }
    }

    @Test func collectedCyclesDropTheirRecords() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["next"])
        let site = heap.allocationSites.intern(AllocationSite(file: "t.hw", line: 1, function: "main"))
        heap.setAllocationTracing(true)
        withMutator(heap) { m in
            let a = m.new(node)!, b = m.new(node)!
            m.recordAllocationSite(a, site: site)
            m.recordAllocationSite(b, site: site)
            m.store(b, into: a, slot: 0)
            m.store(a, into: b, slot: 0)
            m.release(a)
            m.release(b)
            #expect(heap.allocationSites.recordCount == 2)
            #expect(heap.collect().unreachable == 2)
            #expect(heap.allocationSites.recordCount == 0)
        }
    }

    @Test func theShortestChainNamesEachSlotAndElement() {
        let heap = Heap(collector: .manual)
        let entry = heap.types.register(name: "Entry", slots: ["next", "blob"])
        let blob = heap.types.register(name: "Blob", payloadBytes: 64)
        let list = heap.types.register(name: "array", isArray: true)
        withMutator(heap) { m in
            // cache: [e0, e1, e2]; e0.next = e1; e1.blob = the blob; a longer way in: other → e2 → e1.
            let cache = m.newArray(list, count: 3)!
            let e0 = m.new(entry)!, e1 = m.new(entry)!, e2 = m.new(entry)!, data = m.new(blob)!
            m.store(e0, into: cache, slot: 0)
            m.store(e2, into: cache, slot: 2)
            m.store(e1, into: e0, slot: 0)
            m.store(e1, into: e2, slot: 0)
            m.store(data, into: e1, slot: 1)
            let other = m.new(entry)!
            m.store(e2, into: other, slot: 0)
            let search = heap.stopTheWorld {
                heap.shortestChainsWorldStopped(from: [ReferenceRoot(name: "global other", object: other), ReferenceRoot(name: "global cache", object: cache)],
                                                typeName: { heap.types.name(of: $0) }, groups: 8) { object, _ in object.typeID }
            }
            // Both roots reach the blob in three steps; the earlier root wins the tie.
            #expect(search.chains[blob.id]?.text == "global other → Entry.next → Entry.next → Entry.blob → Blob")
            #expect(search.chains[list.id]?.text == "global cache → array")
            #expect(search.chains[entry.id]?.text == "global other → Entry")
            #expect(search.reached[entry.id] == 4)
            #expect(search.chains[blob.id]?.cycleSize == nil)
            let direct = heap.stopTheWorld {
                heap.shortestChainsWorldStopped(from: [ReferenceRoot(name: "global cache", object: cache)], typeName: { heap.types.name(of: $0) }, groups: 1) { object, _ in
                    object.typeID == blob.id ? 0 : nil
                }
            }
            #expect(direct.chains[0]?.text == "global cache → array[0] → Entry.next → Entry.blob → Blob")
            for object in [cache, e0, e1, e2, data, other] { m.release(object) }
        }
    }

    @Test func aCycleKeptOnlyByTheChainIsPointedOut() {
        let heap = Heap(collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["next", "ring"])
        let ring = heap.types.register(name: "Ring", slots: ["next"])
        withMutator(heap) { m in
            // holder.ring → r0 → r1 → r2 → r0: a cycle of three that only holder keeps alive.
            let holder = m.new(node)!
            let r = (0..<3).map { _ in m.new(ring)! }
            for index in 0..<3 { m.store(r[(index + 1) % 3], into: r[index], slot: 0) }
            m.store(r[0], into: holder, slot: 1)
            for object in r { m.release(object) }
            let kept = heap.stopTheWorld {
                heap.shortestChainsWorldStopped(from: [ReferenceRoot(name: "global holder", object: holder)], typeName: { heap.types.name(of: $0) }, groups: 2) { object, _ in
                    object.typeID == ring.id ? 1 : nil
                }
            }
            #expect(kept.chains[1]?.text == "global holder → Node.ring → Ring")
            #expect(kept.chains[1]?.cycleSize == 3)
            #expect(kept.chains[1]?.cycleReferrers == 1)
            // A second way in: no longer kept only by the chain.
            let extra = m.new(node)!
            m.store(r[1], into: extra, slot: 0)
            let shared = heap.stopTheWorld {
                heap.shortestChainsWorldStopped(from: [ReferenceRoot(name: "global holder", object: holder)], typeName: { heap.types.name(of: $0) }, groups: 2) { object, _ in
                    object.typeID == ring.id ? 1 : nil
                }
            }
            #expect(shared.chains[1]?.cycleReferrers == 2)
            m.release(extra)
            m.release(holder)
            #expect(heap.collect().unreachable == 3)
        }
    }

    @Test func fragmentationCountsTheHolesOfAKnownPatternOfFrees() {
        let heap = Heap(collector: .manual)
        // 32 + 16 = 48 bytes: the 48-byte class, 1365 blocks to a 64 KiB page.
        let small = heap.types.register(name: "Small", payloadBytes: 16)
        withMutator(heap) { m in
            let perPage = Arena.pageSize / 48
            var objects: [ObjectRef] = []
            for _ in 0..<(perPage * 4) { objects.append(m.new(small)!) }
            let pages = Dictionary(grouping: objects) { $0.bits >> UInt(Arena.pageShift) }
            let full = pages.values.filter { $0.count == perPage }.map { $0.sorted { $0.bits < $1.bits } }
            #expect(full.count >= 3)
            // First full page: every other block freed (a partial page); second: all but one
            // (partial); third: all (empty, or given back as a free page).
            var freed = 0
            for (index, object) in full[0].enumerated() where index % 2 == 1 { m.release(object); freed += 1 }
            for object in full[1].dropFirst() { m.release(object); freed += 1 }
            for object in full[2] { m.release(object); freed += 1 }
            let report = heap.allocator.fragmentationReport()
            let row = report.sizeClasses.first { $0.blockSize == 48 }!
            let live = objects.count - freed
            #expect(row.blocksInUse == live)
            #expect(row.freeBlocks == row.pages * perPage - live)
            #expect(row.partialPages >= 2)
            #expect(row.fullPages == row.pages - row.partialPages - row.emptyPages)
            #expect(row.holeBytes == row.pages * Arena.pageSize - live * 48)
            #expect(report.inUseBytes == live * 48)
            #expect(report.fragmentationIndex > 0 && report.fragmentationIndex < 1)
            #expect(report.committedBytes >= row.committedBytes + report.arenas * Arena.pageSize)
            #expect(report.releasableBytes <= (report.emptyPages + report.freePages) * Arena.pageSize)
            let releasedFirst = Set(full[0].enumerated().filter { $0.offset % 2 == 1 }.map(\.element.bits))
            let gone = releasedFirst.union(full[1].dropFirst().map(\.bits)).union(full[2].map(\.bits))
            for object in objects where !gone.contains(object.bits) { m.release(object) }
            #expect(heap.allocator.fragmentationReport().sizeClasses.first { $0.blockSize == 48 }?.blocksInUse ?? 0 == 0)
        }
    }
}
