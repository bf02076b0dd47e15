// Misuse of the allocator stops the process with a message, never corrupts the heap silently.
// Each case runs in a child process (exit tests) and must end in a failure exit.

import HeapCore
import Foundation
import Testing

/// Expects the child process's standard error to contain `phrase`.
func expectMessage(_ result: ExitTest.Result?, _ phrase: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(stderr.contains(phrase), "stderr was: \(stderr)", sourceLocation: sourceLocation)
}

@Suite struct AllocatorMisuseTests {
    @Test func doubleFreeByTheOwnerIsCaught() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator()
            allocator.attachCurrentThread()
            let block = allocator.allocate(byteCount: 64)!
            allocator.deallocate(block)
            allocator.deallocate(block)
        }
        expectMessage(result, "double free")
    }

    @Test func doubleFreeByAnotherThreadIsCaught() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator()
            allocator.attachCurrentThread()
            let block = UInt(bitPattern: allocator.allocate(byteCount: 200)!)
            let done = DispatchSemaphore(value: 0)
            Thread {
                allocator.deallocate(UnsafeMutableRawPointer(bitPattern: block)!)
                allocator.deallocate(UnsafeMutableRawPointer(bitPattern: block)!)
                done.signal()
            }.start()
            done.wait()
        }
        expectMessage(result, "double free")
    }

    @Test func doubleFreeOfALargeBlockIsCaught() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator()
            allocator.attachCurrentThread()
            let block = allocator.allocate(byteCount: 1 << 20)!
            allocator.deallocate(block)
            allocator.deallocate(block)
        }
        expectMessage(result, "not a live heapd block")
    }

    @Test func freeOfAPointerThatIsNotOursIsCaught() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator()
            allocator.attachCurrentThread()
            let foreign = malloc(64)!
            allocator.deallocate(foreign)
        }
        expectMessage(result, "not a live heapd block")
    }

    @Test func freeOfAStackAddressIsCaught() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator()
            var local = 42
            withUnsafeMutablePointer(to: &local) { allocator.deallocate(UnsafeMutableRawPointer($0)) }
        }
        expectMessage(result, "not a live heapd block")
    }

    @Test func freeInTheMiddleOfASmallBlockIsCaught() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator()
            allocator.attachCurrentThread()
            let block = allocator.allocate(byteCount: 48)!
            allocator.deallocate(block + 16)
        }
        expectMessage(result, "16 bytes inside the 48-byte block")
    }

    @Test func freeInTheMiddleOfALargeBlockIsCaught() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator()
            allocator.attachCurrentThread()
            let block = allocator.allocate(byteCount: 64 << 10)!
            allocator.deallocate(block + 4096)
        }
        expectMessage(result, "points inside a")
    }

    @Test func freeFarInsideAHugeBlockIsCaught() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator()
            allocator.attachCurrentThread()
            let block = allocator.allocate(byteCount: 12 << 20)!
            allocator.deallocate(block + (9 << 20))
        }
        expectMessage(result, "points inside a large block")
    }

    @Test func freeOfASlotNeverHandedOutIsCaught() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator()
            allocator.attachCurrentThread()
            let block = allocator.allocate(byteCount: 32)!
            // Far beyond the blocks carved so far in this page.
            allocator.deallocate(block + 32 * 1500)
        }
        expectMessage(result, "never allocated")
    }

    @Test func freeIntoAnotherAllocatorIsCaught() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let first = Allocator()
            let second = Allocator()
            first.attachCurrentThread()
            let block = first.allocate(byteCount: 32)!
            second.deallocate(block)
        }
        expectMessage(result, "another allocator")
    }

    @Test func allocatingOnAnUnattachedThreadIsCaught() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator()
            _ = allocator.allocate(byteCount: 32)
        }
        expectMessage(result, "not attached")
    }

    @Test func attachingTwiceIsCaught() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let allocator = Allocator()
            allocator.attachCurrentThread()
            allocator.attachCurrentThread()
        }
        expectMessage(result, "already attached")
    }

    @Test func collectingFromInsideAPauseIsCaughtNotDeadlocked() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let heap = Heap(collector: .manual)
            heap.attachCurrentThread()
            heap.stopTheWorld { _ = heap.collect() }
        }
        expectMessage(result, "already stopped by this thread")
    }
}
