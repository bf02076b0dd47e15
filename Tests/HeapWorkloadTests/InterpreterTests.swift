// The interpreter's semantics, one small program each (docs/language.md, sections 3 to 7): what
// it prints, whether it ends well, its error's stable code, its expects and phases. Every run
// goes through Support/Running.swift, which also holds it to leaking nothing. Collection is
// manual: only the programs' own gc.collect() calls collect.

import Foundation
import HeapCore
import HeapWorkload
import XCTest

final class InterpreterTests: XCTestCase {
    // MARK: Integers

    func testArithmetic() throws {
        XCTAssertEqual(try output(of: inMain("""
            print 2 + 3 * 4, (2 + 3) * 4, 10 - 25, -7 + 0, - -3
            print 0xff & 0x0f, 0xf0 | 0x0f, 6 ^ 3, 1 << 10, 1024 >> 3
            """)), ["14 20 -15 -7 3", "15 255 5 1024 128"])
    }

    func testDivisionAndRemainderFloorAsPython() throws {
        XCTAssertEqual(try output(of: inMain("""
            print 7 / 2, -7 / 2, 7 / -2, -7 / -2, 6 / -3
            print 7 % 2, -7 % 2, 7 % -2, -7 % -2, 6 % -3
            print -4611686018427387904 % -1, -1 / 3, 0 / -5
            """)), ["3 -4 -4 3 -2", "1 1 -1 -1 0", "0 -1 0"])
    }

    func testShifts() throws {
        XCTAssertEqual(try output(of: inMain("""
            print -5 >> 1, -1 >> 100, 5 >> 64, 1 << 61, 0 << 100, -1 << 3
            """)), ["-3 -1 0 2305843009213693952 0 -8"])
        XCTAssertEqual(try errorCode(of: inMain("x = 1 << 62")), .overflow)
        XCTAssertEqual(try errorCode(of: inMain("x = 3 << 63")), .overflow)
        XCTAssertEqual(try errorCode(of: inMain("n = -1; x = 1 << n")), .badArgument)
    }

    func testIntegersHold63Bits() throws {
        XCTAssertEqual(try output(of: inMain("""
            big = 4611686018427387903
            small = -4611686018427387904
            print big, small, big + small
            """)), ["4611686018427387903 -4611686018427387904 -1"])
    }

    func testOverflowPast63BitsFails() throws {
        let programs = [
            "x = 4611686018427387903; y = x + 1",
            "x = -4611686018427387904; y = x - 1",
            "x = 2147483648; y = x * x",
            "x = -4611686018427387904; y = -x",
            "x = -4611686018427387904; y = x / -1",
            "x = 4611686018427387904",
            "x = 9223372036854775807",
        ]
        for program in programs {
            let error = try failure(of: inMain(program))
            XCTAssertEqual(error?.code, .overflow, program)
        }
    }

    func testOverflowErrorSaysWhere() throws {
        let error = try XCTUnwrap(failure(of: """
            fn grow(x) {
                return x * 4
            }
            main {
                x = 1
                while true { x = grow(x) }
            }
            """))
        XCTAssertEqual(error.code, .overflow)
        XCTAssertEqual(error.line, 2)
        XCTAssertEqual(error.function, "grow")
        XCTAssertEqual(error.fileName, "test.hw")
        XCTAssertTrue(error.description.hasPrefix("test.hw:2:"), error.description)
        XCTAssertTrue(error.description.contains("[run.overflow] (in grow)"), error.description)
    }

    func testDivisionByZero() throws {
        XCTAssertEqual(try errorCode(of: inMain("z = 0; x = 1 / z")), .divisionByZero)
        XCTAssertEqual(try errorCode(of: inMain("z = 0; x = 1 % z")), .divisionByZero)
    }

    func testArithmeticOnReferencesIsATypeError() throws {
        XCTAssertEqual(try errorCode(of: "type T { a }\n" + inMain("x = new T; y = x + 1")), .typeError)
        XCTAssertEqual(try errorCode(of: inMain("x = none; y = 1 - x")), .typeError)
        XCTAssertEqual(try errorCode(of: inMain("x = none; y = -x")), .typeError)
        XCTAssertEqual(try errorCode(of: "type T { a }\n" + inMain("x = new T; if x < 1 { }")), .typeError)
        XCTAssertEqual(try errorCode(of: "type T { a }\n" + inMain("x = new T; y = x >= 1")), .typeError)
    }

    // MARK: Comparisons and truth

    func testComparisonsGiveOneOrZero() throws {
        XCTAssertEqual(try output(of: inMain("""
            a = 1; b = 2
            print a < b, a <= b, a > b, a >= b, a == b, a != b
            print b < a, b <= b, b > a, a >= a, a == 1, true == 1, false == 0
            """)), ["1 1 0 0 0 1", "0 1 1 1 1 1 1"])
    }

    func testEqualityOfReferencesIsIdentity() throws {
        XCTAssertEqual(try output(of: """
            type T { a }
            main {
                x = new T; y = new T; z = x
                print x == y, x == z, x != y, x == none, none == none, 0 == none, x.a == none
            }
            """), ["0 1 1 0 1 0 1"])
    }

    func testAndOrGiveTheDecidingOperand() throws {
        XCTAssertEqual(try output(of: """
            type T { a }
            main {
                x = new T
                print 0 or 5, 3 or 5, none or 0, 0 or none
                print 0 and 5, 3 and 5, none and 1, 2 and none
                print (x or 1) == x, (1 and x) == x, not x, not none, not 0, not 7
            }
            """), ["5 3 0 none", "0 5 none none", "1 1 0 1 1 0"])
    }

    func testAndOrEvaluateTheRightSideOnlyWhenNeeded() throws {
        XCTAssertEqual(try output(of: """
            global calls = 0
            fn hit(v) { calls = calls + 1; return v }
            main {
                a = 0 and hit(1)
                b = 1 or hit(2)
                c = 1 and hit(3)
                d = 0 or hit(4)
                if hit(0) and hit(5) { }
                print a, b, c, d, calls
            }
            """), ["0 1 3 4 3"])
    }

    // MARK: Control flow

    func testIfElifElse() throws {
        XCTAssertEqual(try output(of: """
            fn classify(n) {
                if n < 0 { return -1 } elif n == 0 { return 0 } elif n < 10 { return 1 } else { return 2 }
            }
            main { print classify(-5), classify(0), classify(3), classify(99) }
            """), ["-1 0 1 2"])
    }

    func testIfOnReferencesAndNone() throws {
        XCTAssertEqual(try output(of: """
            type T { a }
            main {
                x = new T
                if x { print "object is true" }
                if x.a { print "wrong" } else { print "none is false" }
                if not x.a { print "not none" }
            }
            """), ["object is true", "none is false", "not none"])
    }

    func testWhileWithBreakAndContinue() throws {
        XCTAssertEqual(try output(of: inMain("""
            i = 0; odd = 0
            while true {
                i = i + 1
                if i % 2 == 0 { continue }
                if i > 9 { break }
                odd = odd + i
            }
            print i, odd
            """)), ["11 25"])
    }

    func testForRange() throws {
        XCTAssertEqual(try output(of: inMain("""
            for i in range(3) { print i }
            for i in range(2, 4) { print i }
            for i in range(10, 0, -4) { print i }
            for i in range(0, 10, 4) { print i }
            for i in range(5, 5) { print "never" }
            for i in range(5, 0) { print "never" }
            print i
            """)), ["0", "1", "2", "2", "3", "10", "6", "2", "0", "4", "8", "8"])
    }

    func testForRangeEvaluatesItsBoundsOnce() throws {
        XCTAssertEqual(try output(of: inMain("""
            n = 3; count = 0
            for i in range(n) { n = n + 1; count = count + 1 }
            print count, n
            """)), ["3 6"])
    }

    func testForRangeBreakAndContinue() throws {
        XCTAssertEqual(try output(of: inMain("""
            total = 0
            for i in range(100) {
                if i % 3 == 0 { continue }
                if i > 10 { break }
                total = total + i
            }
            print total
            """)), ["37"])
    }

    func testForRangeWithZeroStepFails() throws {
        let error = try failure(of: inMain("s = 0\nfor i in range(0, 10, s) { print i }"))
        XCTAssertEqual(error?.code, .zeroStep)
        XCTAssertEqual(error?.line, 3)
    }

    func testRepeat() throws {
        XCTAssertEqual(try output(of: inMain("""
            n = 0
            repeat 4 { n = n + 1 }
            repeat 0 { n = 100 }
            repeat -3 { n = 100 }
            k = 2
            repeat k { k = k + 10; n = n + 1 }
            repeat 10 { if n == 8 { break } n = n + 1 }
            print n, k
            """)), ["8 22"])
    }

    func testNestedLoopsBreakOnlyTheInnermost() throws {
        XCTAssertEqual(try output(of: inMain("""
            count = 0
            for i in range(3) { for j in range(10) { if j == 2 { break } count = count + 1 } }
            print count
            """)), ["6"])
    }

    func testReturnFromInsideALoop() throws {
        XCTAssertEqual(try output(of: """
            type T { a }
            fn find(limit) {
                for i in range(100) { x = new T; if i * i > limit { return i } }
                return -1
            }
            main { print find(50), find(100000) }
            """), ["8 -1"])
    }

    // MARK: Functions

    func testRecursion() throws {
        XCTAssertEqual(try output(of: """
            fn fib(n) { if n < 2 { return n }  return fib(n - 1) + fib(n - 2) }
            fn fact(n) { if n == 0 { return 1 }  return n * fact(n - 1) }
            main { print fib(15), fact(20) }
            """), ["610 2432902008176640000"])
    }

    func testMutualRecursion() throws {
        XCTAssertEqual(try output(of: """
            fn even(n) { if n == 0 { return 1 }  return odd(n - 1) }
            fn odd(n) { if n == 0 { return 0 }  return even(n - 1) }
            main { print even(10), odd(7), even(7) }
            """), ["1 1 0"])
    }

    func testFunctionsWithoutAValueReturnNone() throws {
        XCTAssertEqual(try output(of: """
            fn nothing() { }
            fn bare(x) { if x { return }  return 5 }
            main { print nothing(), bare(1), bare(0) }
            """), ["none none 5"])
    }

    func testParametersAreLocalsThatMayBeReassigned() throws {
        XCTAssertEqual(try output(of: """
            fn f(a, b) { a = a + b; b = 0; return a * 10 + b }
            main { x = 3; print f(x, 4), x }
            """), ["70 3"])
    }

    func testArgumentsAreEvaluatedLeftToRight() throws {
        XCTAssertEqual(try output(of: """
            global order = 0
            fn tag(d) { order = order * 10 + d; return d }
            fn three(a, b, c) { return a * 100 + b * 10 + c }
            main { print three(tag(1), tag(2), tag(3)), order }
            """), ["123 123"])
    }

    func testReturnInMainEndsTheRun() throws {
        XCTAssertEqual(try output(of: inMain("print 1\nif true { return }\nprint 2")), ["1"])
    }

    func testGlobalsAreSharedAcrossFunctions() throws {
        XCTAssertEqual(try output(of: """
            type T { a }
            global counter = 10
            global shared
            global unset
            fn bump() { counter = counter + 1 }
            fn keep() { shared = new T }
            fn read() { return shared }
            main {
                bump(); bump(); keep()
                print counter, read() == shared, shared, unset
                x = read()
                print refcount(x)
            }
            """), ["12 1 <T> none", "2"])
    }

    func testDeleteLocalAndGlobal() throws {
        XCTAssertEqual(try output(of: """
            type T { a }
            global g
            main {
                x = new T; g = x
                print refcount(x)
                del g
                print refcount(x), g
                del x
                print x
                x = 5
                print x
            }
            """), ["2", "1 none", "none", "5"])
    }

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

    func testStoringAnIntegerInASlotIsATypeError() throws {
        XCTAssertEqual(try errorCode(of: "type A { x }\nmain { a = new A; a.x = 1 }"), .typeError)
        XCTAssertEqual(try errorCode(of: "type A { x }\nfn f(o) { o.x = 2 }\nmain { f(new A) }"), .typeError)
        XCTAssertEqual(try errorCode(of: "main { a = new [1]; a[0] = 7 }"), .typeError)
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

    func testFailingWeakCallbackFailsTheRun() throws {
        let error = try failure(of: """
            type Node { ref }
            fn died(w) { x = 1 / 0 }
            main { a = new Node; w = weak(a, died); del a; print "still running" }
            """)
        XCTAssertEqual(error?.code, .divisionByZero)
        XCTAssertEqual(error?.function, "died")
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
            """), ["1 1", "0 1 1", "1 1 none"])
    }

    func testObjectIsNotFinalizedBeforeItsFinalizerRuns() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref, finalize { } }
            type Plain { ref }
            main { a = new Node; p = new Plain; print gc.is_finalized(a), gc.is_finalized(p) }
            """), ["0 0"])
    }

    func testFinalizerFailureFailsTheRun() throws {
        let error = try failure(of: """
            type Node { ref, finalize { x = self.ref.missing } }
            type Other { missing }
            main { a = new Node; b = new Node; a.ref = b; b.ref = a; del a; del b; gc.collect(); print "after" }
            """)
        XCTAssertEqual(error?.function, "Node.finalize")
        XCTAssertEqual(error?.code, .unknownSlot)
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

    // MARK: rand

    func testRandIsDeterministicForASeed() throws {
        let source = inMain("""
            for i in range(8) { print rand(1000000) }
            """)
        let first = try output(of: source)
        let again = try output(of: source)
        let other = try output(of: source) { $0.seed = 2 }
        XCTAssertEqual(first, again)
        XCTAssertNotEqual(first, other)
        XCTAssertEqual(Set(first).count, 8)
        for line in first + other {
            let value = try XCTUnwrap(Int(line))
            XCTAssertTrue((0..<1_000_000).contains(value))
        }
    }

    func testRandStaysInItsBound() throws {
        XCTAssertEqual(try output(of: inMain("""
            ok = 1
            for i in range(200) { r = rand(3); if r < 0 or r > 2 { ok = 0 } }
            print ok, rand(1)
            """)), ["1 0"])
        XCTAssertEqual(try errorCode(of: inMain("print rand(0)")), .badArgument)
        XCTAssertEqual(try errorCode(of: inMain("print rand(-5)")), .badArgument)
    }

    // MARK: expect and phase

    func testExpectPassesAreCounted() throws {
        let result = try runProgram(inMain("""
            for i in range(5) { expect i < 5, "in range" }
            expect 1
            """))
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.expects.map(\.passed), [5, 1])
        XCTAssertEqual(result.expects.map(\.failed), [0, 0])
        XCTAssertEqual(result.expects.map(\.line), [2, 3])
        XCTAssertEqual(result.expects[1].condition, "1")
    }

    func testExpectFailureCitesTheConditionAndTheValues() throws {
        let result = try runProgram("""
            type Node { ref }
            main {
                a = new Node
                expect refcount(a) == 1
                b = a
                expect refcount(a) == 1, "b adds one"
                print "not reached"
            }
            """)
        XCTAssertFalse(result.ok)
        XCTAssertEqual(result.output, [])
        let error = try XCTUnwrap(result.error)
        XCTAssertEqual(error.code, .expectFailed)
        XCTAssertEqual(error.line, 6)
        XCTAssertTrue(error.message.contains("refcount(a) == 1"), error.message)
        XCTAssertTrue(error.message.contains("left: 2, right: 1"), error.message)
        XCTAssertTrue(error.message.hasSuffix(": b adds one"), error.message)
        XCTAssertEqual(result.expects.map(\.passed), [1, 0])
        XCTAssertEqual(result.expects.map(\.failed), [0, 1])
    }

    func testExpectFailureOfATruthValue() throws {
        let error = try XCTUnwrap(failure(of: inMain("x = 0\nexpect x or none")))
        XCTAssertEqual(error.code, .expectFailed)
        XCTAssertTrue(error.message.contains("x or none"), error.message)
        XCTAssertFalse(error.message.contains("left:"), error.message)
    }

    func testExpectFailureShowsReferences() throws {
        let error = try XCTUnwrap(failure(of: "type Node { ref }\n" + inMain("a = new Node\nexpect a.ref == a")))
        XCTAssertTrue(error.message.contains("left: none, right: <Node>"), error.message)
    }

    func testExpectOrderingOfReferencesIsATypeError() throws {
        XCTAssertEqual(try errorCode(of: "type Node { ref }\n" + inMain("a = new Node\nexpect a < 1")), .typeError)
    }

    func testPhasesAreTimedAndCounted() throws {
        let result = try runProgram("""
            type Node { ref }
            fn work() { phase "inner" { x = new Node } }
            main {
                phase "build" { a = new [100]; for i in range(100) { a[i] = new Node } }
                repeat 3 { work() }
                phase "never" { }
            }
            """)
        XCTAssertTrue(result.ok)
        // Listed in the order the compiler met them: functions' bodies before main's.
        XCTAssertEqual(result.phases.map(\.name).sorted(), ["build", "inner", "never"])
        let phases = Dictionary(uniqueKeysWithValues: result.phases.map { ($0.name, $0) })
        XCTAssertEqual(phases["build"]?.runs, 1)
        XCTAssertEqual(phases["inner"]?.runs, 3)
        XCTAssertEqual(phases["never"]?.runs, 1)
        XCTAssertEqual(phases["build"]?.allocations, 101)
        XCTAssertEqual(phases["inner"]?.allocations, 3)
        XCTAssertEqual(phases["never"]?.allocations, 0)
        XCTAssertGreaterThan(phases["build"]?.seconds ?? 0, 0)
    }

    // MARK: print

    func testPrintFormatting() throws {
        XCTAssertEqual(try output(of: """
            type Node { ref }
            type Blob { payload 8 }
            fn idle() { }
            main {
                print
                print none, 0, -12, true, false
                print "text with \\"quotes\\"", "tab\\there"
                n = new Node; b = new Blob; a = new [4]
                print n, b, a
                print weak(n), weak(b), weak(a)
                w = weak(new Node)
                print w, deref(w)
                t = spawn idle()
                print channel(1), t
            }
            """), [
                "",
                "none 0 -12 1 0",
                "text with \"quotes\" tab\there",
                "<Node> <Blob> <array of 4>",
                "<weak reference to Node> <weak reference to Blob> <weak reference to array of 4>",
                "<weak reference to nothing> none",
                "<channel> <thread>",
            ])
    }

    func testOutputCallbackSeesEachLine() throws {
        let lines = Locked<[String]>([])
        let result = try runProgram(inMain("print 1\nprint \"two\"")) { configuration in
            configuration.output = { line in lines.withLock { $0.append(line) } }
        }
        XCTAssertEqual(result.output, ["1", "two"])
        XCTAssertEqual(lines.withLock { $0 }, ["1", "two"])
    }

    // MARK: params

    func testParamsCanBeOverriddenPerRun() throws {
        let source = """
            param n = 4
            param size = 1 << n
            main { print n, size }
            """
        XCTAssertEqual(try output(of: source), ["4 16"])
        XCTAssertEqual(try output(of: source) { $0.params = ["n": 10] }, ["10 1024"])
        let checked = try XCTUnwrap(checkedProgram(source))
        XCTAssertThrowsError(try Workload.run(checked, configuration: { var c = testConfiguration(); c.params = ["m": 1]; return c }()))
    }

    // MARK: The result

    func testResultCountsObjects() throws {
        let result = try runProgram("""
            type Node { ref }
            global keep
            main {
                keep = new Node
                repeat 9 { x = new Node }
            }
            """)
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.allocations, 10)
        XCTAssertEqual(result.liveAtEnd, 1)
        XCTAssertEqual(result.frees, 9)
        XCTAssertEqual(result.file, "test.hw")
        XCTAssertEqual(result.policy, "biased")
        XCTAssertEqual(result.threads.map(\.name), ["main"])
        XCTAssertGreaterThan(result.threads[0].operations, 9)
    }

    func testResultEncodesAsJSON() throws {
        let result = try runProgram(inMain("x = 1 / 0"))
        let data = try JSONEncoder().encode(result)
        let decoded = try JSONDecoder().decode(RunResult.self, from: data)
        XCTAssertEqual(decoded.error, result.error)
        XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("\"run.division-by-zero\""))
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
            ("a.ref = 1", .typeError),
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

    // MARK: Bugs found by these tests (each fails until the interpreter or compiler is fixed)

    /// A callee's frame starts inside the caller's temporaries, which keep the integers they last
    /// held; the callee's locals other than its parameters are not cleared, so a local assigned
    /// on one path only reads the caller's leftover instead of none.
    func testBug_LocalAssignedOnOnePathReadsNoneEvenAfterACallersTemporaries() throws {
        XCTAssertEqual(try output(of: """
            fn g(p) { if p { x = 1 }  return x }
            main { print g(1 - 1) }
            """), ["none"])
        XCTAssertEqual(try output(of: """
            type Node { left }
            fn h(p) { if p { n = new Node }  return n == none }
            main { a = 7; print h(a - 7) }
            """), ["1"])
    }

    /// refcount(x) should not count its own argument; when the argument is not a local (a slot, a
    /// global, a fresh object) the temporary holding it is counted.
    func testBug_RefcountDoesNotCountTheTemporaryHoldingItsArgument() throws {
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
    func testBug_FinalizerRunsWhenReferenceCountingFreesTheObject() throws {
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
    func testBug_ObjectResurrectedIntoAGlobalByTheLastCollectionIsReleased() throws {
        let result = try Workload.run(try XCTUnwrap(checkedProgram("""
            global saved
            type Node { ref, finalize { saved = self } }
            main { a = new Node; a.ref = a }
            """)), configuration: testConfiguration())
        XCTAssertTrue(result.ok)
        XCTAssertEqual(result.leaked, 0)
    }

    /// A global's constant initial value that does not fit the interpreter's 63-bit integers
    /// silently becomes none (a param of the same value fails with run.overflow when read).
    func testBug_GlobalInitialValueBeyond63BitsIsNotSilentlyNone() throws {
        let result = try runProgram("""
            global g = 1 << 62
            main { print g }
            """)
        XCTAssertNotEqual(result.output, ["none"])
        XCTAssertTrue(result.output == ["4611686018427387904"] || result.error?.code == .overflow,
                      "output \(result.output), error \(String(describing: result.error))")
    }

    /// ExpectSite.condition is "the condition as written", but it is the rest of the source line:
    /// the message, and whatever follows on the line, come with it.
    func testBug_ExpectConditionTextIsOnlyTheCondition() throws {
        let result = try runProgram(inMain("""
            x = 1
            expect x == 1, "one"
            """))
        XCTAssertEqual(result.expects.first?.condition, "x == 1")
        let error = try XCTUnwrap(failure(of: inMain("x = 2; expect x == 1; print x")))
        XCTAssertTrue(error.message.hasPrefix("expect failed: x == 1 (left: 2, right: 1)"), error.message)
    }

    /// A phase left by continue, break or return never reaches its phaseEnd and is not counted.
    func testBug_PhaseLeftByContinueOrReturnIsCounted() throws {
        let result = try runProgram("""
            fn f() { phase "inner" { return 1 } }
            main {
                for i in range(3) { phase "loop" { if i == 1 { continue } } }
                f()
            }
            """)
        XCTAssertEqual(Dictionary(uniqueKeysWithValues: result.phases.map { ($0.name, $0.runs) }), ["loop": 3, "inner": 1])
    }

    /// range counts while below stop; a next value past the 63-bit limit is never taken, so it
    /// should end the loop, not overflow.
    func testBug_ForRangeEndingNearTheIntegerLimitEndsTheLoop() throws {
        XCTAssertEqual(try output(of: inMain("""
            for i in range(4611686018427387900, 4611686018427387903, 2) { print i }
            for i in range(-4611686018427387901, -4611686018427387904, -2) { print i }
            """)), ["4611686018427387900", "4611686018427387902", "-4611686018427387901", "-4611686018427387903"])
    }

    /// language.md, section 3: "Slots and array elements hold references (objects, arrays, weak
    /// references, channels, thread handles) or none"; channels and threads fail with run.type-error.
    func testBug_SlotsAndElementsHoldChannelsAndThreads() throws {
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

    /// language.md: "The loop variable is an ordinary local (or global)", and the checker accepts
    /// a global; the compiler stops the process (Compiler.swift: "a loop variable is a local").
    /// Run through heapctl in a child process so that the crash does not take the tests with it.
    func testBug_ForLoopVariableMayBeAGlobal() throws {
        let child = try runInChildProcess("global g\nmain { for g in range(3) { } print g }\n")
        XCTAssertFalse(child.crashed, "heapctl crashed (signal \(child.status))")
        XCTAssertEqual(child.status, 0)
        XCTAssertEqual(child.output, "2\n")
    }
}
