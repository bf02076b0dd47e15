// OSMemory: the only place heapd asks the kernel for memory or gives it back.
//
// Every mapping is private, anonymous and `MAP_NORESERVE`: address space is cheap, and a page of it
// costs RSS only once touched. Aligned mappings are made by over-mapping `size + alignment` and
// unmapping the unaligned head and tail, so exactly `size` bytes stay mapped.
//
// Thread safety: every function may be called from any thread; the kernel serialises them.

#if canImport(Glibc)
import Glibc
#endif

enum OSMemory {
    /// The kernel's page size (4 KiB on x86-64 Linux).
    static let pageSize: Int = Int(sysconf(Int32(_SC_PAGESIZE)))

    /// Maps `size` bytes of zeroed memory whose address is a multiple of `alignment` (a power of
    /// two, at least the page size). Returns nil when the kernel refuses (address space or memory
    /// exhausted). The caller owns the mapping until it passes it to `unmap`.
    static func mapAligned(size: Int, alignment: Int) -> UnsafeMutableRawPointer? {
        precondition(alignment.nonzeroBitCount == 1 && alignment >= pageSize, "alignment must be a power of two >= page size")
        precondition(size > 0 && size % pageSize == 0, "size must be a positive multiple of the page size")
        let span = size + alignment
        guard let raw = mmap(nil, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              raw != MAP_FAILED
        else { return nil }
        let start = UInt(bitPattern: raw)
        let aligned = (start + UInt(alignment) - 1) & ~(UInt(alignment) - 1)
        let head = Int(aligned - start)
        let tail = span - head - size
        if head > 0 { munmap(raw, head) }
        if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: aligned + UInt(size)), tail) }
        return UnsafeMutableRawPointer(bitPattern: aligned)
    }

    /// Returns a mapping made by `mapAligned` to the kernel.
    static func unmap(_ pointer: UnsafeMutableRawPointer, size: Int) {
        let rc = munmap(pointer, size)
        precondition(rc == 0, "munmap failed: errno \(errno)")
    }

    /// Drops the physical pages behind `[pointer, pointer + size)`; the range stays mapped and reads
    /// back as zeros. Used for arenas kept by the release policy.
    static func decommit(_ pointer: UnsafeMutableRawPointer, size: Int) {
        _ = madvise(pointer, size, Int32(MADV_DONTNEED))
    }

    /// The process's resident set size in bytes, from /proc/self/statm (0 if unreadable).
    static func residentBytes() -> Int {
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return 0 }
        // statm: size resident shared text lib data dt (in pages)
        let fields = buffer[0..<n].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
        return pages * pageSize
    }
}
