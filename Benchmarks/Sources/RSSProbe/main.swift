// RSSProbe: the process's resident memory before, at the peak of, and after 1 GiB of small blocks,
// all in one process.
//
//   usage: RSSProbe heapd|glibc 64|mixed
//
//   1. start    RSS once the allocator is ready (heapd: allocator made, thread attached)
//   2. peak     after allocating blocks until 1 GiB has been requested: all 64 B, or "mixed"
//               sizes 16...512 B from a fixed-seed generator; each block's first word links it to
//               the next, so no side array adds to RSS. Also the kernel's high-water mark (VmHWM).
//   3. freed    after freeing every block, in allocation order
//   4. after    heapd: collect(), then detach and collect() again; glibc: malloc_trim(0)
//
// RSS is read from /proc/self/statm (Allocator.residentBytes()); figures are MiB.

import BenchmarkSupport
import Glibc
import HeapCore

let arguments = CommandLine.arguments
guard arguments.count == 3, ["heapd", "glibc"].contains(arguments[1]), ["64", "mixed"].contains(arguments[2]) else {
    print("usage: RSSProbe heapd|glibc 64|mixed")
    exit(2)
}
RSSProbe.run(allocatorName: arguments[1], sizes: arguments[2] == "64" ? .fixed(64) : .mixed)
