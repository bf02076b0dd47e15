// FastPathProbe: a bare loop of allocate+free pairs, for counting instructions under callgrind
// (perf events are not available in this VM). Run it twice with different pair counts and divide
// the difference in instructions by the difference in pairs: start-up cost cancels out.
//
//   usage: FastPathProbe heapd|glibc tight|batch <pairs> <byteCount>
//
//   tight   allocate one block and free it at once, <pairs> times
//   batch   allocate 10,000 blocks, then free them, until <pairs> pairs are done
//
// glibc is called as __libc_malloc/__libc_free, as in the benchmarks (no interposer is linked
// here anyway). Each block is handed to an opaque function so that nothing can be folded.

import BenchmarkSupport
import Glibc
import HeapCore

let arguments = CommandLine.arguments
guard arguments.count == 5, ["heapd", "glibc"].contains(arguments[1]), ["tight", "batch"].contains(arguments[2]),
      let pairs = Int(arguments[3]), let byteCount = Int(arguments[4])
else {
    print("usage: FastPathProbe heapd|glibc tight|batch <pairs> <byteCount>")
    exit(2)
}
if arguments[1] == "heapd" {
    FastPathProbe.run(HeapdBlocks(Allocator(configuration: AllocatorConfiguration())), pattern: arguments[2], pairs: pairs, byteCount: byteCount)
} else {
    FastPathProbe.run(GlibcBlocks(), pattern: arguments[2], pairs: pairs, byteCount: byteCount)
}
