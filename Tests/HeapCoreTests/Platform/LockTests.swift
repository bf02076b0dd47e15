// Lock and MutexCondition in debug builds: they record which thread holds them, so that "lock
// held" can be asserted; the exit tests show that such an assertion stops a thread that does not
// hold the lock, and that a second lock by the holder stops instead of deadlocking. Release builds
// keep no record (Lock.swift), so there is nothing to test there.

#if DEBUG
import Foundation
import HeapCore
import Testing

@Suite struct LockTests {
    @Test func theHolderIsRecorded() {
        let lock = Lock()
        #expect(!lock.isHeldByCurrentThread)
        lock.withLock {
            #expect(lock.isHeldByCurrentThread)
            runOnThreads(1) { _ in #expect(!lock.isHeldByCurrentThread) }
        }
        #expect(!lock.isHeldByCurrentThread)
        lock.lock()
        #expect(lock.isHeldByCurrentThread)
        lock.unlock()
        #expect(!lock.isHeldByCurrentThread)
    }

    /// A wait gives the mutex up and takes it back, and the record follows.
    @Test func aWaitHandsTheRecordOver() {
        let condition = MutexCondition()
        let signalled = Locked(false)
        condition.withLock {
            runOnThreads(1) { _ in } // a thread that has come and gone holds nothing
            let thread = Thread {
                condition.withLock {
                    #expect(condition.isHeldByCurrentThread)
                    signalled.withLock { $0 = true }
                    condition.broadcast()
                }
            }
            thread.start()
            while !signalled.withLock({ $0 }) {
                condition.wait()
                #expect(condition.isHeldByCurrentThread)
            }
        }
        #expect(!condition.isHeldByCurrentThread)
    }

    @Test func assertingALockNotHeldStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let lock = Lock()
            lock.assertHeldByCurrentThread()
        }
        expectMessage(result, "needs the lock held by the calling thread")
    }

    @Test func assertingALockAnotherThreadHoldsStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let lock = Lock()
            lock.withLock {
                runOnThreads(1) { _ in lock.assertHeldByCurrentThread() }
            }
        }
        expectMessage(result, "needs the lock held by the calling thread")
    }

    @Test func lockingTwiceStopsInsteadOfDeadlocking() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let lock = Lock()
            lock.withLock { lock.lock() }
        }
        expectMessage(result, "taken again by the thread that holds it")
    }

    @Test func waitingWithoutTheMutexStops() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            MutexCondition().wait()
        }
        expectMessage(result, "wait() needs the mutex held by the calling thread")
    }
}
#endif
