// RunAdmission, in process: the queue's bound (busy past workers + queue_limit, a place back when
// a run leaves), worker slots (a run waits for one), and the exclusive rule (an exclusive run
// waits for every slot and holds them all; two exclusive runs cannot deadlock each holding half).
// Ordering is checked with semaphores, never with the clock.

import Dispatch
import Foundation
import HeapCore
@testable import HeapService
import Testing

@Suite struct RunAdmissionTests {
    @Test func theQueueTakesWorkersPlusItsLimitAndThenRefusesBusy() throws {
        let admission = RunAdmission(workers: 2, queueLimit: 3)
        for _ in 0..<5 { try admission.admit() }
        #expect(throws: CodedError(.busy, "2 runs are running and 3 waiting; try again later")) { try admission.admit() }
        #expect(throws: CodedError.self) { try admission.admit() }       // a refusal takes no place
        admission.leave()
        try admission.admit()
        #expect(throws: CodedError.self) { try admission.admit() }
    }

    @Test func aRunWaitsForAWorkerSlotUntilOneIsGivenBack() {
        let admission = RunAdmission(workers: 2, queueLimit: 0)
        #expect(admission.takeSlots(exclusive: false) == 1)
        #expect(admission.takeSlots(exclusive: false) == 1)
        let third = Waiter { admission.takeSlots(exclusive: false) }
        #expect(!third.finished(within: .milliseconds(200)))
        admission.giveBack(1)
        #expect(third.finished(within: .seconds(60)))
        #expect(third.slots == 1)
        admission.giveBack(2)
    }

    @Test func anExclusiveRunWaitsForEverySlotAndHoldsThemAll() {
        let admission = RunAdmission(workers: 3, queueLimit: 0)
        #expect(admission.takeSlots(exclusive: false) == 1)
        let exclusive = Waiter { admission.takeSlots(exclusive: true) }
        #expect(!exclusive.finished(within: .milliseconds(200)))
        admission.giveBack(1)
        #expect(exclusive.finished(within: .seconds(60)))
        #expect(exclusive.slots == 3)
        let after = Waiter { admission.takeSlots(exclusive: false) }
        #expect(!after.finished(within: .milliseconds(200)))
        admission.giveBack(3)
        #expect(after.finished(within: .seconds(60)))
        admission.giveBack(1)
    }

    @Test func twoExclusiveRunsTakeTheirSlotsOneAfterTheOther() {
        let admission = RunAdmission(workers: 4, queueLimit: 0)
        // Each exclusive run gives its slots back as soon as it has them: with the slots taken
        // one by one and no entry lock, two could each hold two and wait for ever.
        let runs = (0..<8).map { _ in
            Waiter {
                let slots = admission.takeSlots(exclusive: true)
                admission.giveBack(slots)
                return slots
            }
        }
        for run in runs {
            #expect(run.finished(within: .seconds(60)))
            #expect(run.slots == 4)
        }
    }
}

/// `take` on a thread of its own; whether it has returned, and what.
private final class Waiter: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let taken = Locked(0)

    init(_ take: @escaping @Sendable () -> Int) {
        Thread.detachNewThread { [done, taken] in
            let slots = take()
            taken.withLock { $0 = slots }
            done.signal()
        }
    }

    /// Whether `take` returned within `time` (once true, it stays true).
    func finished(within time: Duration) -> Bool {
        let nanoseconds = Int(time.components.seconds) * 1_000_000_000 + Int(time.components.attoseconds / 1_000_000_000)
        guard done.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .success else { return false }
        done.signal()
        return true
    }

    var slots: Int { taken.withLock { $0 } }
}
