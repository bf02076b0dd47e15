// Limits and hostile programs: whatever a program does — recurse without end, loop forever, fill
// the heap, ask for absurd sizes, fail in one thread while others wait — the run ends, with the
// limit's stable error code, and releases everything it made (Support/Running.swift checks
// leaked == 0 on every run). Programs that once crashed the process run in a child process, so
// that a regression fails one test instead of the whole suite.

import HeapWorkload
import XCTest

final class RunLimitsTests: XCTestCase {
    // MARK: Recursion

    func testRunawayRecursionStopsAtTheConfiguredDepth() throws {
        let error = try XCTUnwrap(failure(of: """
            fn f(n) { return f(n + 1) }
            main { print f(0) }
            """) { $0.maxCallDepth = 50 })
        XCTAssertEqual(error.code, .recursionLimit)
        XCTAssertEqual(error.function, "f")
        XCTAssertTrue(error.message.contains("50"), error.message)
    }

    func testRunawayRecursionHoldingObjectsReleasesThemAll() throws {
        let result = try runProgram("""
            type Node { ref }
            fn f(prev, d) {
                n = new Node
                n.ref = prev
                a = new [2]; a[0] = n; a[1] = a
                return f(n, d + 1)
            }
            main { print f(none, 0) }
            """) { $0.maxCallDepth = 500 }
        XCTAssertEqual(result.error?.code, .recursionLimit)
        XCTAssertEqual(result.allocations, 1000)
    }

    func testRunawayRecursionStopsAtTheDefaultDepth() throws {
        let result = try runProgram("""
            fn f(n) { return f(n + 1) }
            main { print f(0) }
            """)
        XCTAssertEqual(result.error?.code, .recursionLimit)
        XCTAssertTrue(result.error?.message.contains("\(RunConfiguration().maxCallDepth)") ?? false)
    }

    func testDeepRecursionBelowTheLimitWorks() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref }
            fn chain(n) { if n == 0 { return none }  x = new Node; x.ref = chain(n - 1); return x }
            fn length(x) { if x == none { return 0 }  return 1 + length(x.ref) }
            main { print length(chain(20000)) }
            """), ["20000"])
    }

    func testCallDepthIsCountedPerThread() throws {
        XCTAssertEqual(try output(of: """
            fn down(n) { if n == 0 { return 0 }  return 1 + down(n - 1) }
            fn worker(n) { return down(n) }
            main { t = spawn worker(40); print down(40), join(t) }
            """) { $0.maxCallDepth = 45 }, ["40 40"])
    }

    func testRegisterStackExhaustionIsARecursionLimit() throws {
        let error = try XCTUnwrap(failure(of: """
            fn f(a, b, c, d) { e = a + b; return f(a, b, c, d) }
            main { f(1, 2, 3, 4) }
            """) { $0.registerStackWords = 1000 })
        XCTAssertEqual(error.code, .recursionLimit)
        XCTAssertTrue(error.message.contains("register stack"), error.message)
    }

    /// The call-depth limit holds in a callback too; there it is a warning, as every error
    /// inside a callback is.
    func testRecursionInAWeakCallbackIsLimitedToo() throws {
        let result = try runProgram("""
            type Node { ref }
            fn f(n) { return f(n + 1) }
            fn died(w) { f(0) }
            main { a = new Node; w = weak(a, died); del a; print "after" }
            """) { $0.maxCallDepth = 100 }
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.warnings.map(\.code), [.recursionLimit])
        XCTAssertEqual(result.output.last, "after")
    }

    // MARK: Steps and time

    func testInfiniteLoopStopsAtTheStepLimit() throws {
        let error = try failure(of: inMain("while true { }")) { $0.maxSteps = 10_000 }
        XCTAssertEqual(error?.code, .stepLimit)
        XCTAssertEqual(try errorCode(of: inMain("x = 0\nrepeat 1 << 40 { x = x + 1 }")) { $0.maxSteps = 10_000 }, .stepLimit)
        XCTAssertEqual(try errorCode(of: "fn f() { f() }\nmain { while true { f() } }") { $0.maxSteps = 10_000; $0.maxCallDepth = 10 },
                       .recursionLimit)
        XCTAssertEqual(try errorCode(of: "fn f() { }\nmain { while true { f() } }") { $0.maxSteps = 10_000 }, .stepLimit)
    }

    func testALimitReachedAtABackEdgeOrACallNamesItsLine() throws {
        // The poll that finds the limit runs at a loop's back edge or a call; the error names
        // that instruction's line, whichever of the two it was (not the loop's first line, nor
        // the callee).
        // Polls come every 128 calls and back edges: with one call an iteration the limit is
        // found at the back edge, with two at the second call.
        for body in ["t = f(t)", "t = f(t); t = f(t)"] {
            let error = try failure(of: "fn f(x) { return x }\nmain {\n    t = 0\n    while true { \(body) }\n}") { $0.maxSteps = 10_000 }
            XCTAssertEqual(error?.code, .stepLimit)
            XCTAssertEqual(error?.line, 4, body)
            XCTAssertEqual(error?.function, "main", body)
        }
        let error = try failure(of: "main {\n    x = 0\n    for i in range(1 << 40) {\n        x = x + 1\n    }\n}") { $0.maxSteps = 1000 }
        XCTAssertEqual(error?.line, 3)
    }

    func testStepLimitLeavesRoomForAFiniteProgram() throws {
        XCTAssertEqual(try output(of: inMain("x = 0\nfor i in range(1000) { x = x + i }\nprint x")) { $0.maxSteps = 10_000 }, ["499500"])
    }

    func testInfiniteLoopStopsAtTheTimeLimit() throws {
        let result = try runProgram("""
            type Node { ref }
            main { while true { x = new Node; x.ref = x } }
            """) { $0.timeLimit = .milliseconds(200) }
        XCTAssertEqual(result.error?.code, .timeLimit)
        XCTAssertGreaterThanOrEqual(result.wallSeconds, 0.19)
        XCTAssertLessThan(result.wallSeconds, 5)
    }

    func testTimeLimitWakesAThreadBlockedOnAChannel() throws {
        let result = try runProgram("""
            fn waiter(ch) { return recv(ch) }
            main {
                ch = channel(1)
                t = spawn waiter(ch)
                x = recv(ch)
                while true { }
            }
            """) { $0.timeLimit = .milliseconds(200) }
        XCTAssertEqual(result.error?.code, .timeLimit)
        XCTAssertLessThan(result.wallSeconds, 5)
    }

    func testTimeLimitStopsEveryThread() throws {
        let result = try runProgram("""
            fn spin() { while true { } }
            main {
                a = spawn spin(); b = spawn spin()
                join(a); join(b)
            }
            """) { $0.timeLimit = .milliseconds(200) }
        XCTAssertEqual(result.error?.code, .timeLimit)
        XCTAssertLessThan(result.wallSeconds, 5)
    }

    // MARK: Memory

    func testHeapLimitStopsAGrowingList() throws {
        let result = try runProgram("""
            main {
                head = new [10]
                while true { a = new [1000]; a[0] = head; head = a }
            }
            """) { $0.heapLimitBytes = 16 << 20 }
        XCTAssertEqual(result.error?.code, .heapLimit)
        XCTAssertTrue(result.error?.message.contains("\(16 << 20)") ?? false)
        XCTAssertGreaterThan(result.allocations, 1000)
    }

    func testHeapLimitStopsAGrowingListOfObjects() throws {
        let result = try runProgram("""
            type Node { next, payload 200 }
            main {
                head = none
                while true { n = new Node; n.next = head; head = n }
            }
            """) { $0.heapLimitBytes = 16 << 20 }
        XCTAssertEqual(result.error?.code, .heapLimit)
        XCTAssertEqual(result.frees, result.allocations)
    }

    func testHeapLimitOfOneHugeArray() throws {
        XCTAssertEqual(try errorCode(of: inMain("a = new [1 << 25]")) { $0.heapLimitBytes = 16 << 20 }, .heapLimit)
    }

    func testHeapLimitInAWeakReference() throws {
        // weak() allocates too: filling the heap with weak references also stops at the limit.
        let result = try runProgram("""
            type Node { ref }
            main {
                keep = new Node
                list = new [2]
                while true { a = new [2]; a[0] = weak(keep); a[1] = list; list = a }
            }
            """) { $0.heapLimitBytes = 4 << 20 }
        XCTAssertEqual(result.error?.code, .heapLimit)
    }

    func testMemoryCanBeReusedUnderTheLimit() throws {
        XCTAssertEqual(try output(of: """
            main {
                repeat 200 { a = new [10000] }
                print "done"
            }
            """) { $0.heapLimitBytes = 16 << 20 }, ["done"])
    }

    func testAbsurdSizesAreBadArguments() throws {
        XCTAssertEqual(try errorCode(of: inMain("a = new [1 << 40]")), .badArgument)
        XCTAssertEqual(try errorCode(of: inMain("a = new [4611686018427387903]")), .badArgument)
        XCTAssertEqual(try errorCode(of: inMain("a = new [-4611686018427387904]")), .badArgument)
        XCTAssertEqual(try errorCode(of: inMain("c = channel(0)")), .badArgument)
        XCTAssertEqual(try errorCode(of: inMain("c = channel(1 << 40)")), .badArgument)
    }

    // MARK: Threads

    func testThreadLimit() throws {
        let result = try runProgram("""
            fn idle() { }
            main { for i in range(10) { t = spawn idle(); join(t) } }
            """) { $0.maxThreads = 5 }
        XCTAssertEqual(result.error?.code, .threadLimit)
    }

    func testFailureInASpawnedThreadStopsTheRun() throws {
        let result = try runProgram("""
            type Node { ref }
            fn bad(x) {
                keep = new Node
                return 1 / x
            }
            main {
                t = spawn bad(0)
                n = new Node
                while true { n.ref = new Node }
            }
            """)
        let error = try XCTUnwrap(result.error)
        XCTAssertEqual(error.code, .divisionByZero)
        XCTAssertEqual(error.function, "bad")
        XCTAssertEqual(error.line, 4)
    }

    func testFailureInMainStopsSpinningThreads() throws {
        let result = try runProgram("""
            fn spin() { while true { } }
            main {
                for i in range(3) { t = spawn spin() }
                x = none
                print x.ref
            }
            type Node { ref }
            """)
        XCTAssertEqual(result.error?.code, .noneAccess)
        XCTAssertEqual(result.error?.function, "main")
    }

    func testThreadBlockedOnRecvDoesNotKeepAFailedRunAlive() throws {
        let result = try runProgram("""
            type Node { ref }
            fn waiter(ch) {
                item = recv(ch)
                while true { item = recv(ch) }
            }
            main {
                ch = channel(1)
                t = spawn waiter(ch)
                nobody = channel(4)
                send(nobody, new Node)
                x = 1 / 0
            }
            """)
        XCTAssertEqual(result.error?.code, .divisionByZero)
    }

    func testThreadBlockedOnSendDoesNotKeepAFailedRunAlive() throws {
        let result = try runProgram("""
            type Node { ref }
            fn flood(ch, x) { while true { send(ch, x) } }
            main {
                ch = channel(2)
                t = spawn flood(ch, new Node)
                while recv(ch) == none { }
                expect false, "stop here"
            }
            """)
        XCTAssertEqual(result.error?.code, .expectFailed)
    }

    func testMainBlockedInJoinWhileTheThreadFails() throws {
        let result = try runProgram("""
            fn bad() { x = none; return x.ref }
            type Node { ref }
            main { t = spawn bad(); join(t); while true { } }
            """)
        XCTAssertEqual(result.error?.code, .noneAccess)
        XCTAssertEqual(result.error?.function, "bad")
    }

    // MARK: Finalizers

    func testFinalizerThatMakesMoreGarbageEndsAndLeaksNothing() throws {
        XCTAssertEqual(try output(of: """
            global made = 0
            type Node {
                ref
                finalize { if made < 100 { made = made + 1; n = new Node; n.ref = n } }
            }
            main {
                a = new Node; a.ref = a; del a
                repeat 200 { gc.collect() }
                print made
            }
            """), ["100"])
    }

    // MARK: Former crashes (in a child process)

    /// A weak callback that makes another dying weakly-referenced object nests callbacks without
    /// bound: each runs inside the release that triggered it, on the thread's native stack, and
    /// the per-invocation call depth starts again at 0 each time. The process dies of a stack
    /// overflow instead of failing with run.recursion-limit.
    /// Callbacks that nest without end stop at the nesting limit with a warning (the innermost
    /// is not run); the native stack is never exhausted and the run goes on.
    func testNestedWeakCallbacksEndAtTheNestingLimitWithAWarning() throws {
        let child = try runInChildProcess("""
            type Node { ref }
            fn died(w) { a = new Node; v = weak(a, died); del a }
            main { a = new Node; v = weak(a, died); del a; print "after" }
            """, arguments: ["--time-limit", "20"])
        XCTAssertFalse(child.crashed, "heapctl crashed (signal \(child.status))")
        XCTAssertEqual(child.status, 0)
        XCTAssertTrue(child.output.contains("run.recursion-limit: weak-reference callbacks and finalizers nested more than"), child.output)
        XCTAssertTrue(child.output.contains("after"), child.output)
    }

    /// print describes a weak reference by describing its referent, recursively: a chain of
    /// 20,000 weak references to weak references overflows the native stack.
    /// `print` describes a weak reference one level deep: a chain is not followed.
    func testPrintOfALongWeakReferenceChainDoesNotCrash() throws {
        let child = try runInChildProcess("""
            type Node { ref }
            main {
                n = 20000
                a = new [n]
                a[0] = new Node
                for i in range(1, n) { a[i] = weak(a[i - 1]) }
                print len(a)
                print deref(a[n - 1]) == a[n - 2]
                print a[n - 1]
            }
            """, arguments: ["--time-limit", "20"])
        XCTAssertFalse(child.crashed, "heapctl crashed (signal \(child.status))")
        XCTAssertEqual(child.output, "20000\n1\n<weak reference to weak reference>\n")
    }
}
