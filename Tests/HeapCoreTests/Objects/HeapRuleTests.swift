// The object layer's and the collector's rules checked in debug builds: a mutator's slow paths
// run on its own thread, the handshake's waits hold the world mutex, and the collector's steps run
// with the world stopped. Each exit test breaks one rule through an internal function and expects
// the debug assertion to stop the process, naming the function and the rule.

#if DEBUG
@testable import HeapCore
import Foundation
import Testing

@Suite struct HeapRuleTests {
    @Test func aMutatorIsQuiescentOnlyOnItsOwnThread() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let heap = Heap(collector: .manual)
            let storage = UInt(bitPattern: heap.attachCurrentThread().storage)
            runOnThreads(1) { _ in
                Mutator(storage: UnsafeMutablePointer(bitPattern: storage)!).quiescentPoint()
            }
        }
        expectMessage(result, "quiescentPoint() must run on the mutator's own thread")
    }

    @Test func waitingForResumeNeedsTheWorldMutex() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let heap = Heap(collector: .manual)
            let mutator = heap.attachCurrentThread()
            heap.waitForResumeLocked(mutator.storage)
        }
        expectMessage(result, "waitForResumeLocked(_:) needs the mutex held by the calling thread")
    }

    @Test func aNewEpochNeedsTheWorldStopped() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let heap = Heap(collector: .manual)
            heap.attachCurrentThread()
            _ = heap.nextEpoch()
        }
        expectMessage(result, "nextEpoch() needs the world stopped by the calling thread")
    }

    /// The same steps where the rules hold pass their checks.
    @Test func theRulesHoldWhereTheyShould() {
        let heap = Heap(collector: .manual)
        let mutator = heap.attachCurrentThread()
        mutator.quiescentPoint()
        _ = heap.stopTheWorld { heap.nextEpoch() }
        heap.detachCurrentThread()
    }
}
#endif
