// BlockAllocator: the two allocators the benchmarks compare, behind one interface, so that every
// workload is written once and runs against both.
//
//   HeapdBlocks       heapd's public API: allocate(byteCount:) / deallocate(_:)
//   GlibcBlocks       glibc's malloc and free, called by their internal names (see below)
//   InterposedMalloc  whatever `malloc`/`free` resolve to in this process; used only to show
//                     what package-benchmark's malloc interposer costs
//
// Threads: a thread calls `enterThread()` before its first allocation and `leaveThread()` after
// its last (heapd: attach / detach; glibc: nothing). Any thread may deallocate any block.
//
// The methods are @inlinable so that a workload specialised for one allocator calls that
// allocator's own entry point directly, with no wrapper left in between.

import Glibc
import HeapCore

public protocol BlockAllocator: Sendable {
    /// A short label for benchmark names: "heapd", "glibc".
    var name: String { get }
    func allocate(_ byteCount: Int) -> UnsafeMutableRawPointer
    func deallocate(_ block: UnsafeMutableRawPointer)
    /// Prepares the calling thread to allocate; does nothing if it already is.
    func enterThread()
    /// Undoes `enterThread()` on a thread that allocates no more.
    func leaveThread()
}

// MARK: - heapd

public struct HeapdBlocks: BlockAllocator {
    public let allocator: Allocator

    public init(_ allocator: Allocator) {
        self.allocator = allocator
    }

    public var name: String { "heapd" }

    @inlinable
    public func allocate(_ byteCount: Int) -> UnsafeMutableRawPointer {
        guard let block = allocator.allocate(byteCount: byteCount) else { outOfMemory(byteCount) }
        return block
    }

    @inlinable
    public func deallocate(_ block: UnsafeMutableRawPointer) {
        allocator.deallocate(block)
    }

    public func enterThread() {
        if !allocator.isCurrentThreadAttached { allocator.attachCurrentThread() }
    }

    public func leaveThread() {
        allocator.detachCurrentThread()
    }
}

// MARK: - glibc

// glibc exports its allocator a second time as __libc_malloc / __libc_free. A malloc interposer
// (package-benchmark links one into every benchmark executable) replaces `malloc` and `free`
// process-wide, adding a 16-byte header and a branch to every call; these names reach glibc's own
// code past it. `@_silgen_name` declares them without a C module: both take and return one
// integer-class value, which the Swift and C calling conventions pass in the same registers.
@usableFromInline @_silgen_name("__libc_malloc")
func libcMalloc(_ byteCount: Int) -> UnsafeMutableRawPointer?

@usableFromInline @_silgen_name("__libc_free")
func libcFree(_ block: UnsafeMutableRawPointer?)

public struct GlibcBlocks: BlockAllocator {
    public init() {}

    public var name: String { "glibc" }

    @inlinable
    public func allocate(_ byteCount: Int) -> UnsafeMutableRawPointer {
        guard let block = libcMalloc(byteCount) else { outOfMemory(byteCount) }
        return block
    }

    @inlinable
    public func deallocate(_ block: UnsafeMutableRawPointer) {
        libcFree(block)
    }

    public func enterThread() {}
    public func leaveThread() {}
}

/// Plain `malloc`/`free`, as the dynamic linker resolved them: glibc's in a normal process, the
/// interposer's in a package-benchmark executable.
public struct InterposedMalloc: BlockAllocator {
    public init() {}

    public var name: String { "malloc (interposable)" }

    @inlinable
    public func allocate(_ byteCount: Int) -> UnsafeMutableRawPointer {
        guard let block = malloc(byteCount) else { outOfMemory(byteCount) }
        return block
    }

    @inlinable
    public func deallocate(_ block: UnsafeMutableRawPointer) {
        free(block)
    }

    public func enterThread() {}
    public func leaveThread() {}
}

@usableFromInline @inline(never)
func outOfMemory(_ byteCount: Int) -> Never {
    fatalError("out of memory allocating \(byteCount) bytes")
}
