// Threads, a barrier and a seeded random generator for the multi-threaded tests.

import Foundation
import HeapCore
import Synchronization

/// Runs `body(i)` on `count` new threads at once and waits for all of them.
func runOnThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
    let done = DispatchGroup()
    for i in 0..<count {
        done.enter()
        let thread = Thread {
            body(i)
            done.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }
    done.wait()
}

extension Barrier {
    /// Waits as `mutator`, in a blocking region, so that a pause (an automatic collection, say)
    /// need not wait for it meanwhile.
    func wait(as mutator: Mutator) {
        mutator.enterBlockingRegion()
        wait()
        mutator.leaveBlockingRegion()
    }
}

/// SplitMix64: small, fast, and the same sequence for the same seed everywhere.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A block address that can cross threads in tests.
struct BlockAddress: Sendable, Hashable {
    let bits: UInt
    init(_ pointer: UnsafeMutableRawPointer) { bits = UInt(bitPattern: pointer) }
    var pointer: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: bits)! }
}

/// Scale for stress tests: HEAPD_STRESS_SCALE (default 1.0; CI's ThreadSanitizer pass uses less).
let stressScale: Double = {
    ProcessInfo.processInfo.environment["HEAPD_STRESS_SCALE"].flatMap(Double.init) ?? 1.0
}()
