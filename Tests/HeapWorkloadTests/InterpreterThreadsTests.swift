// Threads and channels: spawn and join, producer and consumer, close, objects crossing threads
// under each reference-counting policy, and the collector thread collecting garbage that several
// threads make. Every run leaks nothing (Support/Running.swift).
//
// No test depends on a race: globals are not atomic read-modify-write, so each thread builds its
// own structure and hands back a result. Two things the tests steer around on purpose:
//   - under biased counting, a release by a thread that does not own the object may sit in the
//     owner's merge queue until the owner's next safepoint (as in CPython), so refcount() seen
//     across threads is exact only under the atomic and global-lock policies;
//   - a finished thread's objects are handed over only after it has detached (regression test:
//     testThreadMadeObjectsReleasedWhileTheMakerExitsAreFreed).

import Foundation
import HeapCore
import HeapWorkload
import XCTest

final class InterpreterThreadsTests: XCTestCase {
    // MARK: spawn and join

    func testJoinGivesTheThreadsValue() throws {
        for policy in [RefCountPolicyKind.atomic, .globalLock] {
            XCTAssertEqual(try output(of: """
            type Node { ref }
            fn square(x) { return x * x }
            fn make() { n = new Node; n.ref = new Node; return n }
            fn nothing() { }
            main {
                a = spawn square(7)
                b = spawn make()
                c = spawn nothing()
                print join(a), join(c)
                n = join(b)
                print n, n.ref, refcount(n)
                print join(b), join(a)
            }
            """) { $0.policy = policy }, ["49 none", "<Node> <Node> 1", "none none"], "\(policy)")
        }
    }

    func testJoinGivesIntegersUnderEveryPolicy() throws {
        for policy in RefCountPolicyKind.allCases {
            XCTAssertEqual(try output(of: """
                fn square(x) { return x * x }
                fn nothing() { }
                main { a = spawn square(7); b = spawn nothing(); print join(a), join(b), join(a) }
                """) { $0.policy = policy }, ["49 none none"], "\(policy)")
        }
    }

    func testSpawnMovesItsArgumentsToTheThread() throws {
        // Exact counts across threads: not biased (see the top of the file).
        for policy in [RefCountPolicyKind.atomic, .globalLock] {
            XCTAssertEqual(try output(of: """
            type Node { ref }
            fn count(x) { return refcount(x) }
            fn hold(x, ch) { recv(ch); return refcount(x) }
            main {
                a = new Node
                print join(spawn count(a)), refcount(a)
                ch = channel(1)
                t = spawn hold(a, ch)
                send(ch, 0)
                print join(t), refcount(a)
            }
            """) { $0.policy = policy }, ["2 1", "2 1"], "\(policy)")
        }
    }

    func testThreadsBuildTheirOwnStructures() throws {
        XCTAssertEqual(try output(of: """
            type Node { left, right }
            fn make(d) {
                n = new Node
                if d > 0 { n.left = make(d - 1); n.right = make(d - 1) }
                return n
            }
            fn check(n) { if n.left == none { return 1 }  return 1 + check(n.left) + check(n.right) }
            fn worker(d, rounds) {
                total = 0
                repeat rounds { total = total + check(make(d)) }
                return total
            }
            main {
                a = spawn worker(4, 3); b = spawn worker(5, 3); c = spawn worker(6, 3); d = spawn worker(7, 3)
                print join(a); print join(b); print join(c); print join(d)
            }
            """), ["93", "189", "381", "765"])
    }

    func testGlobalsWrittenByAThreadAreSeenAfterJoin() throws {
        for policy in RefCountPolicyKind.allCases {
            XCTAssertEqual(try output(of: """
                type Node { ref }
                global result
                global count = 0
                fn work(n, m) { result = n; n.ref = m; count = 42 }
                main { n = new Node; t = spawn work(n, new Node); join(t); r = result; print r.ref, count, r == n }
                """) { $0.policy = policy }, ["<Node> 42 1"], "\(policy)")
        }
    }

    func testThreadsCanSpawnThreads() throws {
        XCTAssertEqual(try output(of: """
            fn leaf(x) { return x + 1 }
            fn inner(x) { t = spawn leaf(x); return join(t) * 10 }
            main { t = spawn inner(4); print join(t) }
            """), ["50"])
    }

    func testResultNamesEveryThread() throws {
        let result = try runProgram("""
            fn idle() { }
            main { a = spawn idle(); b = spawn idle(); join(a); join(b) }
            """)
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.threads.map(\.name).sorted(), ["main", "thread 1", "thread 2"])
    }

    func testExpectsAndPhasesInThreadsAddUp() throws {
        let result = try runProgram("""
            fn work(n) { phase "work" { for i in range(n) { expect i < n } } }
            main { a = spawn work(3); b = spawn work(4); join(a); join(b); work(5) }
            """)
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.expects.map(\.passed), [12])
        XCTAssertEqual(result.phases.map(\.runs), [3])
    }

    func testJoinOfSomethingElseIsATypeError() throws {
        XCTAssertEqual(try errorCode(of: inMain("join(1)")), .typeError)
        XCTAssertEqual(try errorCode(of: inMain("ch = channel(1); join(ch)")), .typeError)
        XCTAssertEqual(try errorCode(of: "fn idle() { }\n" + inMain("t = spawn idle(); recv(t)")), .typeError)
        XCTAssertEqual(try errorCode(of: inMain("send(none, 1)")), .typeError)
    }

    func testUnjoinedResultsAreReleased() throws {
        for policy in [RefCountPolicyKind.atomic, .globalLock] {
            let result = try runProgram("""
            type Node { ref }
            fn make(n) { head = none; repeat n { x = new Node; x.ref = head; head = x }  return head }
            fn cycle() { a = new Node; a.ref = a; return a }
            main { spawn make(1000); spawn cycle(); t = spawn make(10) }
            """) { $0.policy = policy }
            XCTAssertTrue(result.ok)
            XCTAssertEqual(result.allocations, 1011)
        }
    }

    func testEachThreadHasItsOwnDeterministicRand() throws {
        let source = """
            fn draw() { return rand(1000000) * 1000000 + rand(1000000) }
            main { a = spawn draw(); b = spawn draw(); print join(a), join(b), draw() }
            """
        let first = try output(of: source)
        XCTAssertEqual(try output(of: source), first)
        let values = first[0].split(separator: " ")
        XCTAssertEqual(Set(values).count, 3, "\(first)")
    }

    // MARK: Channels

    func testProducerAndConsumerMoveTenThousandObjects() throws {
        // The producer waits for the consumer's word that every object is gone before it ends.
        let result = try runProgram("""
            type Node { ref }
            fn producer(ch, done, n) {
                for i in range(n) { x = new Node; x.ref = new Node; send(ch, x) }
                del x
                close(ch)
                recv(done)
            }
            fn consumer(ch, done) {
                got = 0
                item = recv(ch)
                while item != none {
                    expect item.ref != none
                    got = got + 1
                    item = recv(ch)
                }
                send(done, got)
                return got
            }
            main {
                ch = channel(4)
                done = channel(1)
                c = spawn consumer(ch, done)
                p = spawn producer(ch, done, 10000)
                print join(c)
                join(p)
            }
            """)
        XCTAssertTrue(result.ok, "\(String(describing: result.error))")
        XCTAssertEqual(result.output, ["10000"])
        // (Not liveAtEnd: the producer may still be merging the consumer's releases when it is counted.)
        XCTAssertEqual(result.allocations, 20000)
        XCTAssertEqual(result.expects.first?.passed, 10000)
    }

    func testMainAsTheConsumer() throws {
        XCTAssertEqual(try output(of: """
            fn producer(ch, n) { for i in range(n) { send(ch, i) }  close(ch) }
            main {
                ch = channel(3)
                t = spawn producer(ch, 100)
                total = 0
                for i in range(100) { total = total + recv(ch) }
                print total, recv(ch)
                join(t)
            }
            """), ["4950 none"])
    }

    func testValuesComeOutInOrder() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref }
            main {
                ch = channel(4)
                a = new Node
                send(ch, 1); send(ch, a); send(ch, none); send(ch, 2)
                print recv(ch), recv(ch) == a, recv(ch), recv(ch), refcount(a)
            }
            """), ["1 1 none 2 1"])
    }

    func testRecvAfterCloseDrainsThenGivesNone() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref }
            main {
                ch = channel(4)
                send(ch, new Node)
                send(ch, 5)
                close(ch)
                print recv(ch), recv(ch), recv(ch), recv(ch)
                close(ch)
            }
            """), ["<Node> 5 none none"])
    }

    func testCloseWakesABlockedReceiver() throws {
        XCTAssertEqual(try output(of: """
            fn waiter(ch) { return recv(ch) }
            fn closer(ch) { close(ch) }
            main {
                ch = channel(1)
                t = spawn waiter(ch)
                c = spawn closer(ch)
                print join(t)
                join(c)
            }
            """), ["none"])
    }

    func testSendOnAClosedChannelFails() throws {
        let error = try XCTUnwrap(failure(of: """
            type Node { ref }
            main {
                ch = channel(2)
                close(ch)
                send(ch, new Node)
            }
            """))
        XCTAssertEqual(error.code, .channelClosed)
        XCTAssertEqual(error.line, 5)
    }

    func testSendInAThreadOnAClosedChannelFailsTheRun() throws {
        let error = try failure(of: """
            fn sender(ch) { send(ch, 1) }
            main { ch = channel(1); close(ch); t = spawn sender(ch); join(t) }
            """)
        XCTAssertEqual(error?.code, .channelClosed)
        XCTAssertEqual(error?.function, "sender")
    }

    func testChannelContentsLeftAtTheEndAreReleased() throws {
        let result = try runProgram("""
            type Node { ref }
            main {
                ch = channel(8)
                repeat 5 { x = new Node; x.ref = x; send(ch, x) }
                other = channel(2)
                send(other, new Node)
                send(ch, other)
            }
            """)
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.allocations, 6)
    }

    func testChannelsTravelOverChannels() throws {
        XCTAssertEqual(try output(of: """
            fn echo(control) {
                reply = recv(control)
                send(reply, 99)
            }
            main {
                control = channel(1)
                t = spawn echo(control)
                reply = channel(1)
                send(control, reply)
                print recv(reply)
                join(t)
            }
            """), ["99"])
    }

    // MARK: Policies

    func testEveryPolicyGivesTheSameOutput() throws {
        let source = """
            type Node { left, right }
            global shared
            fn make(d) {
                n = new Node
                if d > 0 { n.left = make(d - 1); n.right = make(d - 1) }
                return n
            }
            fn check(n) { if n.left == none { return 1 }  return 1 + check(n.left) + check(n.right) }
            fn reader(rounds) {
                total = 0
                repeat rounds { total = total + check(shared) }
                return total
            }
            fn relay(input, output) {
                item = recv(input)
                while item != none { send(output, item); item = recv(input) }
                close(output)
            }
            main {
                shared = make(6)
                r1 = spawn reader(20); r2 = spawn reader(20); r3 = spawn reader(20)
                first = channel(4); second = channel(4)
                r = spawn relay(first, second)
                got = 0
                for i in range(200) {
                    send(first, make(2))
                    got = got + check(recv(second))
                }
                close(first)
                print got, recv(second)
                print join(r1); print join(r2); print join(r3)
                join(r)
                print check(shared)
            }
            """
        var outputs: [RefCountPolicyKind: [String]] = [:]
        for policy in RefCountPolicyKind.allCases {
            let result = try runProgram(source) { $0.policy = policy }
            XCTAssertTrue(result.ok, "\(policy): \(String(describing: result.error))")
            XCTAssertEqual(result.policy, policy.rawValue)
            outputs[policy] = result.output
        }
        XCTAssertEqual(outputs[.biased], ["1400 none", "2540", "2540", "2540", "127"])
        XCTAssertEqual(outputs[.atomic], outputs[.biased])
        XCTAssertEqual(outputs[.globalLock], outputs[.biased])
    }

    func testObjectsMadeByAFinishedThreadAreFreedByAnother() throws {
        for policy in [RefCountPolicyKind.atomic, .globalLock] {
            let result = try runProgram("""
                type Node { ref }
                global keep
                fn make(n) { head = none; repeat n { x = new Node; x.ref = head; head = x }  keep = head }
                fn count(x) { n = 0; while x != none { n = n + 1; x = x.ref }  return n }
                main {
                    t = spawn make(500)
                    join(t)
                    w = weak(keep)
                    print count(keep)
                    keep = none
                    print deref(w)
                }
                """) { $0.policy = policy }
            XCTAssertEqual(result.output, ["500", "none"], "\(policy)")
            XCTAssertEqual(result.liveAtEnd, 0, "\(policy)")
        }
    }

    // MARK: The collector thread

    func testAutomaticCollectionOfGarbageFromTwoThreads() throws {
        let result = try runProgram("""
            type Node { ref, other }
            fn churn(n) {
                for i in range(n) {
                    a = new Node; b = new Node
                    a.ref = b; b.ref = a
                    a.other = new Node
                }
                return n
            }
            main {
                gc.set_threshold(200)
                a = spawn churn(3000); b = spawn churn(3000)
                print join(a) + join(b), gc.isenabled()
            }
            """) { $0.collector = CollectorConfiguration() }
        XCTAssertTrue(result.ok, "\(String(describing: result.error))")
        XCTAssertEqual(result.output, ["6000 1"])
        XCTAssertGreaterThan(result.collector.automaticCollections, 0)
        XCTAssertGreaterThan(result.collector.collected.reduce(0, +), 0)
    }

    func testAutomaticCollectionFinalizesGarbageFromTwoThreads() throws {
        for policy in RefCountPolicyKind.allCases {
            // Finalizers run one at a time with the world stopped: the counter needs no atomicity.
            let result = try runProgram("""
                global finalized = 0
                type Node { ref, finalize { expect self.ref != none; finalized = finalized + 1 } }
                fn churn(n) {
                    for i in range(n) { a = new Node; b = new Node; a.ref = b; b.ref = a }
                }
                main {
                    gc.set_threshold(100)
                    a = spawn churn(2000); b = spawn churn(2000)
                    join(a); join(b)
                    gc.collect()
                    print finalized
                }
                """) { configuration in
                    configuration.collector = CollectorConfiguration()
                    configuration.policy = policy
                }
            XCTAssertTrue(result.ok, "\(policy): \(String(describing: result.error))")
            XCTAssertEqual(result.output, ["8000"], "\(policy)")
            XCTAssertEqual(result.expects.first?.passed, 8000, "\(policy)")
        }
    }

    func testWeakCallbacksOfCollectedCyclesRunWithAutomaticCollection() throws {
        // Callbacks may run on the collector's thread and on main at once: they report over a
        // channel, which is safe between threads, instead of counting in a global.
        let result = try runProgram("""
            type Node { ref }
            global reports
            fn died(w) { send(reports, 1) }
            main {
                reports = channel(4096)
                gc.set_threshold(100)
                keep = new [2000]
                for i in range(2000) {
                    a = new Node; b = new Node; a.ref = b; b.ref = a
                    keep[i] = weak(a, died)
                }
                del a; del b
                gc.collect()
                close(reports)
                called = 0
                while recv(reports) != none { called = called + 1 }
                print called
                dead = 0
                for i in range(2000) { if deref(keep[i]) == none { dead = dead + 1 } }
                print dead
            }
            """) { $0.collector = CollectorConfiguration() }
        XCTAssertTrue(result.ok, "\(String(describing: result.error))")
        XCTAssertEqual(result.output, ["2000", "2000"])
    }

    // MARK: Regressions (bugs these tests found, fixed)

    /// Under biased counting, objects a spawned thread made and another thread releases while the
    /// maker is exiting are never freed: Run.spawn signals join (handle.finish) before the thread
    /// detaches from the heap, and the releases race with Heap.detachCurrentThread (its
    /// mergeOwnedObjects and merge-queue hand-off). Waiting after join before dropping the
    /// objects, or the atomic and global-lock policies, leak nothing. Typically about three
    /// quarters of a 200-node list leak in most of the runs.
    func testThreadMadeObjectsReleasedWhileTheMakerExitsAreFreed() throws {
        let programs = [
            """
            type Node { ref }
            fn make(n) { head = none; repeat n { x = new Node; x.ref = head; head = x }  return head }
            main { t = spawn make(200); k = join(t); k = none }
            """,
            """
            type Node { ref }
            global keep
            fn make(n) { head = none; repeat n { x = new Node; x.ref = head; head = x }  keep = head }
            main { t = spawn make(200); join(t) }
            """,
        ]
        for program in programs {
            var leaked: [Int] = []
            for _ in 0..<10 {
                let result = try Workload.run(try Program.parse(source: program, fileName: "test.hw"), configuration: testConfiguration())
                XCTAssertTrue(result.ok)
                leaked.append(result.leaked)
            }
            XCTAssertEqual(leaked, Array(repeating: 0, count: 10), program)
        }
    }

    /// The run's last collection (after main and every thread ended) runs finalizers of the cycles
    /// left, but the expects they pass are not counted in the result: the hook interpreter it
    /// makes for them is merged before that collection.
    func testExpectsPassedByFinalizersInTheLastCollectionAreCounted() throws {
        let result = try runProgram("""
            type Node {
                ref
                finalize { expect self.ref == self; print "finalized" }
            }
            main { a = new Node; a.ref = a }
            """)
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.output, ["finalized"])
        XCTAssertEqual(result.expects.first?.passed, 1)
    }

    /// The run's end releases the globals after it has joined every thread; a weak callback that
    /// this triggers may spawn a thread, which nobody joins: it outlives Workload.run, prints
    /// through the output callback and allocates in the run's heap after the result (leaked 0)
    /// was made.
    func testThreadSpawnedWhileTheRunEndsIsJoined() throws {
        let lines = Locked<[String]>([])
        let result = try runProgram("""
            type Node { ref }
            global g
            global watcher
            fn late() { repeat 200000 { x = new Node }  print "late done" }
            fn died(w) { print "callback"; spawn late() }
            main { g = new Node; watcher = weak(g, died); print "main done" }
            """) { configuration in
                configuration.output = { line in lines.withLock { $0.append(line) } }
            }
        XCTAssertEqual(result.output, ["main done", "callback", "late done"])
        // Let the stray thread finish before the next test.
        for _ in 0..<100 where !lines.withLock({ $0.contains("late done") }) { Thread.sleep(forTimeInterval: 0.05) }
    }
}
