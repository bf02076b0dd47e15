// InterpreterTests+Objects: what programs do with objects (docs/language.md, sections 3 and 7) —
// slots found by known type and by name, arrays, reference counts, weak references and their
// callbacks, finalizers (PEP 442: once, resurrection), the gc builtins, and the run releasing
// everything at its end. Collection is manual, as in InterpreterTests.swift.

import HeapWorkload
import XCTest

extension InterpreterTests {
    // MARK: Slots

    func testSlotsOfAKnownType() throws {
        XCTAssertEqual(try output(of: """
            type Pair { first, second }
            main {
                p = new Pair
                print p.first, p.second
                p.first = new Pair
                p.second = p.first
                print p.first, p.first == p.second, p.first.first
                p.first = none
                print p.first, p.second
            }
            """), ["none none", "<Pair> 1 none", "none <Pair>"])
    }

    func testSlotsThroughAParameterAreFoundByName() throws {
        XCTAssertEqual(try output(of: """
            type A { x, y }
            type B { y, z }
            fn gety(o) { return o.y }
            fn sety(o, v) { o.y = v }
            main {
                a = new A; b = new B
                sety(a, b); sety(b, a)
                print gety(a), gety(b), gety(gety(a))
                sety(a, none); sety(b, none)
            }
            """), ["<B> <A> <A>"])
    }

    func testUnknownSlotAtRunTime() throws {
        let source = """
            type A { x }
            type B { y }
            fn getx(o) { return o.x }
            main { b = new B; print getx(b) }
            """
        let error = try failure(of: source)
        XCTAssertEqual(error?.code, .unknownSlot)
        XCTAssertEqual(error?.function, "getx")
        XCTAssertTrue(error?.message.contains("'x'") ?? false, error?.message ?? "")
        XCTAssertEqual(try errorCode(of: """
            type A { x }
            type B { y }
            fn setx(o) { o.x = none }
            main { setx(new B) }
            """), .unknownSlot)
    }

    func testSlotAccessOnNone() throws {
        XCTAssertEqual(try errorCode(of: "type A { x }\nfn f(o) { return o.x }\nmain { f(none) }"), .noneAccess)
        XCTAssertEqual(try errorCode(of: "type A { x }\nmain { a = new A; print a.x.x }"), .noneAccess)
        XCTAssertEqual(try errorCode(of: "type A { x }\nmain { a = new A; del a; a.x = none }"), .noneAccess)
        XCTAssertEqual(try errorCode(of: "type A { x }\nmain { a = new A; del a; if a.x == none { } }"), .noneAccess)
    }

    func testSlotAccessOnAnIntegerIsATypeError() throws {
        XCTAssertEqual(try errorCode(of: "type A { x }\nfn f(o) { return o.x }\nmain { f(3) }"), .typeError)
    }

    /// Slots hold references; an integer goes in a box object that reading the slot opens.
    func testIntegersInSlotsAndElementsAreBoxedAndReadBack() throws {
        XCTAssertEqual(try output(of: """
            type A { x }
            fn f(o) { o.x = 2 }
            main {
                a = new A; a.x = 1; print a.x
                f(a); print a.x + 40
                e = new [2]; e[0] = 7; e[1] = -5; print e[0] * e[1]
                print gc.is_tracked(a), refcount(a)
            }
            """), ["1", "42", "-35", "1 1"])
    }

    func testSlotsHoldObjectsArraysAndWeakReferences() throws {
        XCTAssertEqual(try output(of: """
            type Box { v }
            main {
                b = new Box
                b.v = new [2]; print b.v
                b.v = weak(b); print b.v
                b.v = new Box; print b.v
                a = new [1]; a[0] = weak(b); print a[0]
            }
            """), ["<array of 2>", "<weak reference to Box>", "<Box>", "<weak reference to Box>"])
    }

    func testPayloadTypes() throws {
        XCTAssertEqual(try output(of: """
            param size = 4096
            type Blob { payload size }
            type Tagged { next, payload 16 }
            main {
                b = new Blob; t = new Tagged; t.next = new Tagged
                print b, t.next, gc.is_tracked(b), gc.is_tracked(t)
            }
            """), ["<Blob> <Tagged> 0 1"])
    }

    // MARK: Arrays

    func testArrays() throws {
        XCTAssertEqual(try output(of: """
            type T { a }
            main {
                a = new [3]
                print a, len(a), a[0], a[2]
                a[0] = new T
                a[1] = a
                a[2] = a[0]
                print a[0], a[1] == a, a[0] == a[2], refcount(a)
                a[1] = none
                e = new [0]
                print len(e), len(new [5])
            }
            """), ["<array of 3> 3 none none", "<T> 1 1 2", "0 5"])
    }

    func testArrayIndexOutOfRange() throws {
        XCTAssertEqual(try errorCode(of: inMain("a = new [3]; print a[3]")), .indexOutOfRange)
        XCTAssertEqual(try errorCode(of: inMain("a = new [3]; print a[-1]")), .indexOutOfRange)
        XCTAssertEqual(try errorCode(of: inMain("a = new [0]; a[0] = none")), .indexOutOfRange)
    }

    func testArrayBadLength() throws {
        XCTAssertEqual(try errorCode(of: inMain("n = -1; a = new [n]")), .badArgument)
        XCTAssertEqual(try errorCode(of: inMain("a = new [1 << 40]")), .badArgument)
        XCTAssertEqual(try errorCode(of: inMain("a = new [65]")) { $0.maxArrayLength = 64 }, .badArgument)
        XCTAssertEqual(try output(of: inMain("a = new [64]; print len(a)")) { $0.maxArrayLength = 64 }, ["64"])
    }

    func testIndexingSomethingElse() throws {
        XCTAssertEqual(try errorCode(of: "type T { a }\n" + inMain("t = new T; print t[0]")), .typeError)
        XCTAssertEqual(try errorCode(of: inMain("a = none; print a[0]")), .noneAccess)
        XCTAssertEqual(try errorCode(of: inMain("a = new [2]; print a[none]")), .typeError)
        XCTAssertEqual(try errorCode(of: "type T { a }\n" + inMain("t = new T; print len(t)")), .typeError)
        XCTAssertEqual(try errorCode(of: inMain("print len(none)")), .noneAccess)
    }

    // MARK: Reference counts

    func testRefcountCountsLocalsAndSlots() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref }
            main {
                a = new Node
                print refcount(a)
                b = a
                print refcount(a)
                c = new Node
                c.ref = a
                print refcount(a)
                del b
                print refcount(a)
                c.ref = none
                print refcount(a)
                arr = new [2]
                arr[0] = a; arr[1] = a
                print refcount(a)
            }
            """), ["1", "2", "3", "2", "1", "3"])
    }

    func testPassingToAFunctionCountsWhileItRuns() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref }
            fn count(x) { return refcount(x) }
            fn count2(x, y) { return refcount(x) }
            main { a = new Node; print count(a), count2(a, a), refcount(a) }
            """), ["2 3 1"])
    }

    func testWeakReferenceDoesNotCount() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref }
            main { a = new Node; w = weak(a); v = weak(a); print refcount(a), refcount(w) }
            """), ["1 1"])
    }

    // MARK: Weak references and callbacks

    func testDerefGivesTheObjectUntilItDies() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref }
            main {
                a = new Node
                w = weak(a)
                print deref(w) == a, w
                del a
                print deref(w), w
            }
            """), ["1 <weak reference to Node>", "none <weak reference to nothing>"])
    }

    func testWeakCallbackRunsOnceWhenTheReferentDies() throws {
        let result = try runProgram("""
            type Node { ref }
            global calls = 0
            global seen
            fn died(w) {
                calls = calls + 1
                seen = w
                print "callback", deref(w)
            }
            main {
                a = new Node
                w = weak(a, died)
                print "before"
                del a
                print "after", calls, seen == w, deref(w)
                seen = none
                b = new Node
                w = none
            }
            """)
        XCTAssertTrue(result.ok, "\(String(describing: result.error))")
        XCTAssertEqual(result.output, ["before", "callback none", "after 1 1 none"])
    }

    func testWeakCallbackOfACycleRunsWhenCollected() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref }
            global calls = 0
            fn died(w) { calls = calls + 1 }
            main {
                gc.disable()
                a = new Node; b = new Node
                a.ref = b; b.ref = a
                w = weak(a, died)
                del a; del b
                print calls, deref(w) != none
                print gc.collect(), calls, deref(w)
                print gc.collect(), calls
            }
            """), ["0 1", "2 1 none", "0 1"])
    }

    func testNoCallbackWhenTheWeakReferenceDiesFirst() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref }
            global calls = 0
            fn died(w) { calls = calls + 1 }
            main {
                a = new Node
                w = weak(a, died)
                del w
                del a
                print calls
            }
            """), ["0"])
    }

    func testWeakOfNoneAndDerefOfSomethingElse() throws {
        XCTAssertEqual(try errorCode(of: inMain("x = none; w = weak(x)")), .noneAccess)
        XCTAssertEqual(try errorCode(of: "type T { a }\n" + inMain("t = new T; print deref(t)")), .typeError)
        XCTAssertEqual(try errorCode(of: inMain("print refcount(none)")), .noneAccess)
    }

    /// An error in a callback is a warning, not the run's failure (CPython's "Exception ignored").
    func testFailingWeakCallbackIsAWarning() throws {
        let result = try runProgram("""
            type Node { ref }
            fn died(w) { x = 1 / 0 }
            main { a = new Node; w = weak(a, died); del a; print "still running" }
            """)
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.warnings.map(\.code), [.divisionByZero])
        XCTAssertEqual(result.warnings.first?.function, "died")
        XCTAssertEqual(result.output.last, "still running")
    }

    // MARK: Finalizers

    func testFinalizersRunWhenTheCollectorFreesCyclicGarbage() throws {
        XCTAssertEqual(try output(of: """
            global finalized = 0
            type Node {
                ref
                finalize { finalized = finalized + 1 }
            }
            main {
                gc.disable()
                repeat 5 {
                    a = new Node; b = new Node
                    a.ref = b; b.ref = a
                }
                del a; del b
                print finalized
                print gc.collect(), finalized
                print gc.collect(), finalized
            }
            """), ["0", "10 10", "0 10"])
    }

    func testFinalizerSeesSelfAndItsSlots() throws {
        XCTAssertEqual(try output(of: """
            type Leaf { }
            type Node {
                ref, leaf
                finalize { print "finalizing", self, self.leaf, refcount(self) > 0 }
            }
            main {
                a = new Node
                a.ref = a
                a.leaf = new Leaf
                del a
                gc.collect()
            }
            """), ["finalizing <Node> <Leaf> 1"])
    }

    func testFinalizerResurrectsSelfAndNeverRunsTwice() throws {
        XCTAssertEqual(try output(of: """
            global finalized = 0
            global saved
            type Node {
                ref
                finalize { finalized = finalized + 1; saved = self }
            }
            main {
                a = new Node
                a.ref = a
                w = weak(a)
                del a
                print gc.collect(), finalized
                print saved == none, gc.is_finalized(saved), saved.ref == saved
                saved = none
                print gc.collect(), finalized, deref(w)
            }
            """), ["0 1", "0 1 1", "1 1 none"])    // resurrected objects are not counted (bpo-38379)
    }

    func testObjectIsNotFinalizedBeforeItsFinalizerRuns() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref, finalize { } }
            type Plain { ref }
            main { a = new Node; p = new Plain; print gc.is_finalized(a), gc.is_finalized(p) }
            """), ["0 0"])
    }

    func testFinalizerFailureIsAWarning() throws {
        let result = try runProgram("""
            type Node { ref, finalize { x = self.ref.missing } }
            type Other { missing }
            main { a = new Node; b = new Node; a.ref = b; b.ref = a; del a; del b; print gc.collect(); print "after" }
            """)
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.warnings.map(\.function), ["Node.finalize", "Node.finalize"])
        XCTAssertEqual(result.warnings.map(\.code), [.unknownSlot, .unknownSlot])
        XCTAssertEqual(result.output.suffix(2), ["2", "after"])
    }

    // MARK: The gc builtins

    func testGcEnableDisable() throws {
        XCTAssertEqual(try output(of: inMain("""
            print gc.isenabled()
            gc.disable()
            print gc.isenabled()
            gc.disable()
            print gc.isenabled()
            gc.enable()
            print gc.isenabled()
            """)), ["1", "0", "0", "1"])
    }

    func testGcThresholds() throws {
        XCTAssertEqual(try output(of: inMain("""
            print gc.get_threshold(0), gc.get_threshold(1), gc.get_threshold(2)
            gc.set_threshold(100)
            print gc.get_threshold(0), gc.get_threshold(1), gc.get_threshold(2)
            gc.set_threshold(50, 5, 2)
            print gc.get_threshold(0), gc.get_threshold(1), gc.get_threshold(2)
            """)), ["700 10 10", "100 10 10", "50 5 2"])
        XCTAssertEqual(try errorCode(of: inMain("gc.set_threshold(-1)")), .badArgument)
        XCTAssertEqual(try errorCode(of: inMain("print gc.get_threshold(3)")), .badArgument)
        XCTAssertEqual(try errorCode(of: inMain("print gc.get_count(-1)")), .badArgument)
        XCTAssertEqual(try errorCode(of: inMain("print gc.collect(3)")), .badArgument)
    }

    func testGcCountsTrackedAllocations() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref }
            type Leaf { payload 8 }
            main {
                gc.collect()
                print gc.get_count(0), gc.get_count(1), gc.get_count(2)
                keep = new [10]
                for i in range(10) { keep[i] = new Node }
                repeat 10 { x = new Leaf }
                print gc.get_count(0) >= 10, gc.get_count(0) < 20
                gc.collect(0)
                print gc.get_count(0), gc.get_count(1) >= 1
                gc.collect()
                print gc.get_count(0), gc.get_count(1), gc.get_count(2)
            }
            """), ["0 0 0", "1 1", "0 1", "0 0 0"])
    }

    func testGcIsTracked() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref }
            type Leaf { payload 8 }
            type Empty { }
            main {
                print gc.is_tracked(new Node), gc.is_tracked(new Leaf), gc.is_tracked(new Empty)
                print gc.is_tracked(new [2]), gc.is_tracked(1), gc.is_tracked(none)
            }
            """), ["1 0 0", "1 0 0"])
    }

    func testGcFreezeKeepsObjectsFromCollection() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref }
            main {
                a = new Node; a.ref = a
                w = weak(a)
                del a
                gc.freeze()
                print gc.collect(), deref(w) != none
                gc.unfreeze()
                print gc.collect(), deref(w)
            }
            """), ["0 1", "1 none"])
    }

    func testFrozenGarbageIsStillReleasedAtTheEnd() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref }
            main { a = new Node; a.ref = a; del a; gc.freeze(); print "frozen" }
            """), ["frozen"])
    }

    func testGcCollectFindsCycles() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref }
            main {
                gc.disable()
                a = new Node; b = new Node; c = new Node
                a.ref = b; b.ref = c; c.ref = a
                arr = new [1]; arr[0] = arr
                del a; del b; del c; del arr
                print gc.collect(), gc.collect()
            }
            """), ["4 0"])
    }

    // MARK: Everything is released

    func testCyclesGlobalsAndArraysLeftAtTheEndAreReleased() throws {
        let result = try runProgram("""
            type Node { ref, other }
            global ring
            global table
            main {
                gc.disable()
                first = new Node; last = first
                for i in range(100) { n = new Node; last.ref = n; last = n }
                last.ref = first
                ring = first
                table = new [10]
                for i in range(10) { table[i] = new Node; table[i].other = table }
                a = new Node; a.ref = a
                del a
            }
            """)
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.liveAtEnd, 113)
    }

    func testEveryFailureReleasesEverything() throws {
        let failures: [(String, RunErrorCode)] = [
            ("y = 1 / 0", .divisionByZero),
            ("c = none; y = c.ref", .noneAccess),
            ("y = a + 1", .typeError),
            ("expect a == none", .expectFailed),
            ("y = deep(a, 50)", .indexOutOfRange),
        ]
        for (statement, code) in failures {
            let error = try failure(of: """
                type Node { ref }
                global g
                fn deep(n, d) {
                    local = new Node; local.ref = n
                    if d == 0 { arr = new [1]; return arr[1] }
                    return deep(local, d - 1)
                }
                main {
                    g = new Node; g.ref = g
                    a = new Node; b = new Node; a.ref = b; b.ref = a
                    arr = new [3]; arr[0] = a; arr[1] = arr
                    \(statement)
                }
                """)
            XCTAssertEqual(error?.code, code, statement)
        }
    }

    // MARK: Regressions (bugs these tests found, fixed)

    /// refcount(x) should not count its own argument; when the argument is not a local (a slot, a
    /// global, a fresh object) the temporary holding it is counted.
    func testRefcountDoesNotCountTheTemporaryHoldingItsArgument() throws {
        XCTAssertEqual(try output(of: """
            type Node { left }
            global g
            main {
                a = new Node
                a.left = new Node
                g = new Node
                print refcount(a.left), refcount(g), refcount(new Node)
            }
            """), ["1 1 0"])
    }

    /// language.md: a finalizer "runs once when an object of the type is about to be freed (by
    /// reference counting or by the cycle collector)"; only the collector runs it.
    func testFinalizerRunsWhenReferenceCountingFreesTheObject() throws {
        XCTAssertEqual(try output(of: """
            global finalized = 0
            type Node { ref, finalize { finalized = finalized + 1 } }
            type Leaf { finalize { finalized = finalized + 10 } }
            main {
                a = new Node
                del a
                b = new Leaf
                b = none
                print finalized
            }
            """), ["11"])
    }

    /// The run's end releases the globals, then collects: a finalizer that this last collection
    /// runs and that stores `self` (or anything new) in a global puts it where nothing releases
    /// it any more, and the run reports it leaked.
    func testObjectResurrectedIntoAGlobalByTheLastCollectionIsReleased() throws {
        let result = try Workload.run(try XCTUnwrap(checkedProgram("""
            global saved
            type Node { ref, finalize { saved = self } }
            main { a = new Node; a.ref = a }
            """)), configuration: testConfiguration())
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.leaked, 0)
    }

    /// language.md, section 3: slots and array elements hold any value; channels and threads
    /// travel in boxes.
    func testSlotsAndElementsHoldChannelsAndThreads() throws {
        XCTAssertEqual(try output(of: """
            type Box { v }
            fn idle() { return 5 }
            main {
                b = new Box
                b.v = channel(1); print b.v
                a = new [1]
                a[0] = spawn idle(); print a[0]
                print join(a[0])
            }
            """), ["<channel>", "<thread>", "5"])
    }
}
