@testable import HeapCore
import Testing

/// The walk's lists (WalkTables.swift): from malloc while small, mapped from the kernel from
/// `rawListMappedBytes` on; growing copies what they hold into the larger memory.
@Suite struct RawListTests {
    @Test func aListKeepsItsValuesAsItGrowsPastTheMappedSizeAndOn() {
        var list = RawList<Int32>()
        defer { list.deallocate() }
        let count = 4 * rawListMappedBytes / MemoryLayout<Int32>.stride + 12_345
        for value in 0..<count { list.append(Int32(truncatingIfNeeded: value &* 7)) }
        #expect(list.count == count)
        #expect(list.capacity >= count)
        var wrong = 0
        for index in 0..<count where list[index] != Int32(truncatingIfNeeded: index &* 7) { wrong += 1 }
        #expect(wrong == 0)
    }

    @Test func aMappedListGrownByReserveAndResizeKeepsWhatItHeld() {
        var list = RawList<UInt>()
        defer { list.deallocate() }
        let mapped = rawListMappedBytes / MemoryLayout<UInt>.stride
        list.resize(to: mapped, filling: 3)                     // mapped from the start
        for index in stride(from: 0, to: mapped, by: 97) { list[index] = UInt(index) }
        list.reserve(5 * mapped)                                 // grown: a new mapping
        #expect(list.capacity >= 5 * mapped)
        #expect(list.count == mapped)
        var wrong = 0
        for index in 0..<mapped where list[index] != (index % 97 == 0 ? UInt(index) : 3) { wrong += 1 }
        #expect(wrong == 0)
        list.append(42, count: 4 * mapped)
        #expect(list[mapped] == 42 && list[5 * mapped - 1] == 42)
        list.resize(to: 9 * mapped, filling: 1)                  // grown again, then filled
        #expect(list.count == 9 * mapped && list[0] == 1 && list[9 * mapped - 1] == 1)
    }
}
