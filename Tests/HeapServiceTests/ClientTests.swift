// Client: a connection that fails closes its descriptor once. The suites run in parallel in one
// process, and a descriptor number closed twice may by then be another thread's file: a Process
// launched beside a failing connect (the Daemon helper's wait for its socket fails until heapd
// listens) once failed with EBADF, its pipe closed under it.

import Foundation
import HeapService
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ClientTests {
    /// One thread connects where nothing listens, again and again; this one opens pipes and
    /// checks they stay open while it holds them. A failed connect that closed its number twice
    /// would sooner or later close one of them.
    @Test func aConnectionThatFailsClosesNoOneElsesDescriptor() throws {
        let path = NSTemporaryDirectory() + "heapd-nobody-\(getpid()).sock"
        let stop = Atomic<Bool>(false)
        let failures = Atomic<Int>(0)
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            while !stop.load(ordering: .relaxed) {
                if (try? Client(socketPath: path)) == nil { failures.add(1, ordering: .relaxed) }
            }
            done.signal()
        }
        var victims = 0
        for _ in 0..<20_000 {
            var ends: [Int32] = [0, 0]
            try #require(pipe(&ends) == 0)
            var opened = stat()
            fstat(ends[0], &opened)
            for _ in 0..<20 { _ = fcntl(ends[0], F_GETFD) }
            var now = stat()
            if fstat(ends[0], &now) != 0 || now.st_ino != opened.st_ino || fcntl(ends[1], F_GETFD) < 0 {
                victims += 1
                break           // the numbers may be someone else's now: leave them
            }
            close(ends[0])
            close(ends[1])
        }
        stop.store(true, ordering: .relaxed)
        done.wait()
        #expect(failures.load(ordering: .relaxed) > 0)
        #expect(victims == 0, "a failed connect closed a pipe this thread held")
    }
}
