// SizeClass: the block sizes a page can hold.
//
//   class   block size            step     how found
//   0..31   16, 32, ..., 512      16 B     (n + 15) >> 4, as pymalloc (its 32 classes)
//   32..35  640, 768, 896, 1024   128 B    four classes per doubling above 512 B,
//   36..39  1280 .. 2048          256 B    so no more than 25 % of a block is waste
//   40..43  2560 .. 4096          512 B
//   44..47  5120 .. 8192          1 KiB
//   --      > 8 KiB               -        a mapping of its own (LargeObjects)
//
// Every block size is a multiple of 16, so every block is 16-byte aligned. A page of 64 KiB holds
// 4096 blocks of the smallest class and 8 of the largest.

public enum SizeClass {
    /// Number of classes served from pages.
    public static let count = 48
    /// Blocks of more than this many bytes get a mapping of their own.
    public static let maxSmallSize = 8192
    /// Requests up to this size map to a class with one shift (the fast path).
    public static let maxDirectSize = 512

    /// The class of an `n`-byte request, 0 < n <= maxSmallSize (0 is served as 1).
    @inline(__always)
    public static func index(forSize n: Int) -> Int {
        if n <= maxDirectSize {
            return n <= 16 ? 0 : ((n &+ 15) >> 4) &- 1
        }
        return coarseIndex(forSize: n)
    }

    /// 512 < n <= 8192: four classes per power of two.
    @inline(__always)
    static func coarseIndex(forSize n: Int) -> Int {
        let m = n &- 1
        let log2 = (Int.bitWidth &- 1) &- m.leadingZeroBitCount   // 9 ... 12
        let step = log2 &- 2
        return 32 &+ (log2 &- 9) &* 4 &+ ((m &- (1 << log2)) >> step)
    }

    /// The block size of class `index`.
    public static func blockSize(ofClass index: Int) -> Int {
        precondition(index >= 0 && index < count, "size class \(index) out of range")
        if index < 32 { return (index + 1) * 16 }
        let group = (index - 32) / 4
        let log2 = 9 + group
        return (1 << log2) + ((index - 32) % 4 + 1) * (1 << (log2 - 2))
    }

    /// Block sizes of every class, for tables and statistics.
    public static let blockSizes: [Int] = (0..<count).map(blockSize(ofClass:))
}
