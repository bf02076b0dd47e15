// heapd against glibc, side by side in one run: on this noisy 2-core machine only ratios taken in
// the same run mean anything. Every workload is registered for both allocators, and the results,
// sorted by name, print in adjacent pairs. glibc is called as __libc_malloc/__libc_free, past
// package-benchmark's malloc interposer (see BlockAllocator.swift); "malloc (interposable)" shows
// what the interposer would have added. The only metric is wall-clock time in nanoseconds per
// iteration; iterations are long enough that the whole-number results keep three or more digits.
// No malloc counting is enabled, because it would slow glibc alone.
//
//   benchmark                 one iteration                                  target
//   batch <size>              10,000 allocations of <size>, then 10,000 frees  heapd >= 2x faster than glibc
//   tight loop <size>         1,000,000 times: allocate, then free at once     heapd no slower than glibc
//                             (ns per iteration / 10^6 = ns per pair)
//   cross-thread free 64B     100 batches of 1,000 blocks, allocated on one    heapd at least as fast as glibc
//                             thread, freed on another (mimalloc-bench xmalloc-test)
//   scaling <n> thread(s)     1,000,000 allocate+free pairs of 32 B in batches heapd: time(1 thread) /
//                             of 10,000, on 1 worker or split over 2 workers   time(2 threads) >= 1.8
//
// Single-threaded workloads run on the benchmark thread, attached to the shared allocator once;
// the others spawn workers that attach and detach. RSS is measured by RSSProbe, instruction counts
// of the fast path by FastPathProbe under callgrind (perf events are not available in this VM).

import Benchmark
import BenchmarkSupport
import HeapCore

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock],
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        maxDuration: .seconds(2),
        maxIterations: 10_000
    )

    let heapd = HeapdBlocks(Allocator(configuration: AllocatorConfiguration()))
    let glibc = GlibcBlocks()

    for byteCount in [32, 256] {
        registerBatch(heapd, byteCount: byteCount)
        registerBatch(glibc, byteCount: byteCount)
    }
    for byteCount in [32, 256] {
        registerTightLoop(heapd, byteCount: byteCount)
        registerTightLoop(glibc, byteCount: byteCount)
        registerTightLoop(InterposedMalloc(), byteCount: byteCount)
    }
    registerCrossThreadFree(heapd)
    registerCrossThreadFree(glibc)
    for threads in [1, 2] {
        registerScaling(heapd, threads: threads)
        registerScaling(glibc, threads: threads)
    }
}

func registerBatch<A: BlockAllocator>(_ allocator: A, byteCount: Int) {
    let slots = BlockSlots(count: 10_000)
    Benchmark("batch \(byteCount)B \(allocator.name)") { _ in
        allocator.enterThread()
        allocateThenFree(allocator, byteCount: byteCount, slots: slots)
    }
}

func registerTightLoop<A: BlockAllocator>(_ allocator: A, byteCount: Int) {
    Benchmark("tight loop \(byteCount)B \(allocator.name)") { _ in
        allocator.enterThread()
        for _ in 0..<1_000_000 {
            let block = allocator.allocate(byteCount)
            blackHole(block)
            allocator.deallocate(block)
        }
    }
}

func registerCrossThreadFree<A: BlockAllocator>(_ allocator: A) {
    let workload = CrossThreadFree(batchSize: 1_000, batchesInFlight: 8)
    Benchmark("cross-thread free 64B \(allocator.name)") { _ in
        allocator.enterThread()
        workload.run(allocator, byteCount: 64, batchCount: 100)
    }
}

func registerScaling<A: BlockAllocator>(_ allocator: A, threads: Int) {
    let totalRounds = 400
    let slots = (0..<threads).map { _ in BlockSlots(count: 10_000) }
    Benchmark("scaling \(threads) thread(s) 32B \(allocator.name)") { _ in
        runIndependentWorkers(allocator, byteCount: 32, slots: slots, roundsPerThread: totalRounds / threads)
    }
}
