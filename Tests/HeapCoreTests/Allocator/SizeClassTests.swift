@testable import HeapCore
import Testing

@Suite struct SizeClassTests {
    @Test func classesCoverEverySmallSizeWithTheSmallestFittingBlock() {
        var previous = 0
        for sizeClass in 0..<SizeClass.count {
            let size = SizeClass.blockSize(ofClass: sizeClass)
            #expect(size > previous)
            #expect(size % 16 == 0)
            previous = size
        }
        #expect(SizeClass.blockSize(ofClass: 31) == 512)
        #expect(SizeClass.blockSize(ofClass: SizeClass.count - 1) == SizeClass.maxSmallSize)
        for n in 1...SizeClass.maxSmallSize {
            let sizeClass = SizeClass.index(forSize: n)
            #expect(SizeClass.blockSize(ofClass: sizeClass) >= n)
            if sizeClass > 0 { #expect(SizeClass.blockSize(ofClass: sizeClass - 1) < n) }
        }
        #expect(SizeClass.index(forSize: 0) == 0)
    }

    @Test func pymallocClassesUpTo512BytesStepBy16() {
        for sizeClass in 0..<32 {
            #expect(SizeClass.blockSize(ofClass: sizeClass) == (sizeClass + 1) * 16)
        }
    }

    @Test func coarseClassesWasteAtMostAQuarter() {
        for sizeClass in 32..<SizeClass.count {
            let size = SizeClass.blockSize(ofClass: sizeClass)
            let below = SizeClass.blockSize(ofClass: sizeClass - 1)
            #expect(Double(size - below - 1) / Double(size) <= 0.25)
        }
    }

    @Test func reciprocalGivesTheExactBlockIndexForEveryOffset() {
        for sizeClass in 0..<SizeClass.count {
            let size = UInt64(SizeClass.blockSize(ofClass: sizeClass))
            let reciprocal = ((UInt64(1) << 32) + size - 1) / size
            for offset in UInt64(0)..<UInt64(Arena.pageSize) {
                #expect((offset * reciprocal) >> 32 == offset / size)
            }
        }
    }
}
