@testable import HeapCore
import Foundation
import Synchronization

/// Waits for `semaphore` in a blocking region, so that pauses need not wait for this mutator.
func wait(_ semaphore: DispatchSemaphore, as m: Mutator) {
    m.enterBlockingRegion()
    semaphore.wait()
    m.leaveBlockingRegion()
}

/// Makes two-object cycles and drops them until `stop`, counting them in `made`.
func makeGarbage(_ m: Mutator, _ node: ObjectType, until stop: borrowing Atomic<Bool>, counting made: borrowing Atomic<Int>) {
    while !stop.load(ordering: .relaxed) {
        let (a, b) = makeTwoObjectCycle(m, node)
        m.release(a)
        m.release(b)
        made.add(1, ordering: .relaxed)
    }
}
