// Finalizers and weak-reference callbacks from the language (issue 12): the program that crashed
// heapd, what finalizers may do now that they run with the world running, errors inside them as
// warnings, CPython's answers for resurrection and ordering, and the globals they see while a
// run ends.

import HeapCore
@testable import HeapWorkload
import Testing

/// Runs `source` under `policy`, with automatic collection (the collector thread) or not, and
/// checks what every run must hold: nothing leaked, a clean heap verifier.
private func run(_ source: String, policy: RefCountPolicyKind = .biased, automatic: Bool = false,
                 sourceLocation: Testing.SourceLocation = #_sourceLocation) throws -> RunResult {
    let checked = try Program.parse(source: source, fileName: "test.hw")
    var configuration = RunConfiguration()
    configuration.policy = policy
    configuration.collector = automatic ? CollectorConfiguration() : .manual
    configuration.timeLimit = .seconds(120)
    let result = try Workload.run(checked, configuration: configuration)
    #expect(result.leaked == 0, "leaked (error: \(String(describing: result.error)))", sourceLocation: sourceLocation)
    #expect(result.heapProblems == [], sourceLocation: sourceLocation)
    return result
}

private let policies = RefCountPolicyKind.allCases

@Suite struct FinalizerSemanticsTests {
    /// The program of issue 12 (SIGSEGV in 3 runs of 3): finalizers that allocate while the
    /// collector thread collects at a threshold of 50, objects dying by counting in between.
    @Test(arguments: policies, [false, true])
    func theFinalizerChurnProgramRunsClean(_ policy: RefCountPolicyKind, _ automatic: Bool) throws {
        let result = try run("""
            global sink
            type Fin { a, b; finalize { repeat 64 { l = new Leaf2; l.x = sink; sink = l } } }
            type Leaf2 { x }
            fn make(d) {
                n = new Fin
                if d > 0 { n.a = make(d - 1); n.b = make(d - 1) }
                return n
            }
            main {
                gc.set_threshold(50, 1000, 1000)
                repeat 40 {
                    gc.disable()
                    t = make(6)
                    gc.enable()
                    del t
                    sink = none
                }
                gc.collect()
                print "done"
            }
            """, policy: policy, automatic: automatic)
        #expect(result.ok, "\(String(describing: result.error))")
        #expect(result.output == ["done"])
        #expect(result.warningCount == 0)
    }

    /// A finalizer may collect, send, receive, spawn and join: the collection that runs it has
    /// let the world go on (before: run.not-allowed-in-finalizer).
    @Test(arguments: policies)
    func aFinalizerMayCollectSendReceiveSpawnAndJoin(_ policy: RefCountPolicyKind) throws {
        let result = try run("""
            global ch
            global seen = 0
            global collected = 0
            fn work(n) { x = new Leaf; x.r = x; return n + 1 }
            type Leaf { r }
            type Node {
                ref
                finalize {
                    a = new Leaf; b = new Leaf; a.r = b; b.r = a; del a; del b
                    collected = gc.collect()
                    send(ch, new Leaf)
                    got = recv(ch)
                    t = spawn work(41)
                    seen = join(t)
                }
            }
            main {
                ch = channel(4)
                a = new Node; a.ref = a; del a
                print gc.collect()
                print seen, collected
            }
            """, policy: policy)
        #expect(result.ok, "\(String(describing: result.error))")
        #expect(result.output == ["1", "42 2"])
    }

    /// An error inside a finalizer or a callback does not fail the run: it is a warning (code,
    /// place, message) in the output and the result, and the run goes on (CPython's "Exception
    /// ignored in").
    @Test(arguments: policies)
    func anErrorInAFinalizerOrCallbackIsAWarning(_ policy: RefCountPolicyKind) throws {
        let result = try run("""
            type Node { ref; finalize { x = none; y = x.ref } }
            fn cb(w) { expect 1 == 2 }
            main {
                a = new Node
                del a
                b = new Node; b.ref = b
                w = weak(b, cb)
                del b
                gc.collect()
                print "still running"
            }
            """, policy: policy)
        #expect(result.ok, "\(String(describing: result.error))")
        #expect(result.warningCount == 3)
        #expect(result.warnings.map(\.code) == [.noneAccess, .expectFailed, .noneAccess])
        #expect(result.warnings.map(\.line) == [1, 2, 1])
        #expect(result.warnings.first?.function == "Node.finalize")
        #expect(result.output.filter { $0.hasPrefix("warning: error ignored in Node.finalize (line 1): run.none-access") }.count == 2)
        #expect(result.output.last == "still running")
    }

    /// A limit reached inside a finalizer still stops the run.
    @Test func aLimitInsideAFinalizerStillStopsTheRun() throws {
        let checked = try Program.parse(source: """
            type Node { ref; finalize { while true { } } }
            main { a = new Node; del a }
            """, fileName: "test.hw")
        var configuration = RunConfiguration()
        configuration.collector = .manual
        configuration.maxSteps = 10_000
        let result = try Workload.run(checked, configuration: configuration)
        #expect(result.error?.code == .stepLimit)
        #expect(result.error?.function == "Node.finalize")
    }

    /// bpo-38379: gc.collect() does not count a cycle its finalizers resurrected; dropped again,
    /// it is collected (2) without its finalizers running again.
    @Test(arguments: policies)
    func collectDoesNotCountResurrectedObjects(_ policy: RefCountPolicyKind) throws {
        let result = try run("""
            global keep
            global runs = 0
            type Node { ref; finalize { runs = runs + 1; if keep == none { keep = self } } }
            main {
                a = new Node; b = new Node; a.ref = b; b.ref = a
                del a; del b
                print gc.collect(), runs
                keep = none
                print gc.collect(), runs
            }
            """, policy: policy)
        #expect(result.output == ["0 2", "2 2"])
    }

    /// Callbacks of live weak references to garbage run before its finalizers.
    @Test func callbacksRunBeforeFinalizers() throws {
        let result = try run("""
            type Node { ref; finalize { print "finalizer" } }
            fn cb(w) { print "callback" }
            main {
                a = new Node; a.ref = a
                w = weak(a, cb)
                del a
                print gc.collect()
            }
            """)
        #expect(result.output == ["callback", "finalizer", "1"])
    }

    /// In a chain freed by counting, each object's callback runs when it dies: the first one's
    /// callback still finds the second alive.
    @Test func inAChainEachCallbackRunsWhenItsObjectDies() throws {
        let result = try run("""
            global w2
            type Node { next }
            fn first(w) { print "first: second alive", deref(w2) != none }
            fn second(w) { print "second" }
            main {
                a = new Node; a.next = new Node
                w1 = weak(a, first); w2 = weak(a.next, second)
                del a
            }
            """)
        #expect(result.output == ["first: second alive 1", "second"])
    }

    /// While a run ends, finalizers still see the globals' values: cyclic garbage is collected
    /// before any global is released, and a global holding an integer keeps it (before, every
    /// global was set to none first and `count + 1` failed the run after main had finished).
    @Test(arguments: policies)
    func finalizersRunWhileTheRunEndsSeeTheGlobals(_ policy: RefCountPolicyKind) throws {
        let result = try run("""
            global holder
            global cycle
            global count = 0
            global label = 7
            type Node { ref; finalize { count = count + label } }
            main {
                holder = new Node
                c = new Node; c.ref = c; del c
                cycle = new Node; cycle.ref = cycle
            }
            """, policy: policy)
        #expect(result.ok, "\(String(describing: result.error))")
        #expect(result.warningCount == 0)
    }
}
