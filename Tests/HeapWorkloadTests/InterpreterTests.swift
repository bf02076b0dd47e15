// The interpreter's semantics, one small program each (docs/language.md, sections 3 to 7): what
// it prints, whether it ends well, its error's stable code, its expects and phases. This file:
// integers, truth, control flow, functions and globals, rand, expect, phase, print and the
// result; InterpreterTests+Objects.swift: slots, arrays, reference counts, weak references,
// finalizers and the gc builtins. Every run goes through Support/Running.swift, which also holds
// it to leaking nothing. Collection is manual: only the programs' own gc.collect() calls collect.

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

    func testRangeAndRepeatNeedIntegers() throws {
        XCTAssertEqual(try errorCode(of: inMain("for i in range(new [3]) { }")), .typeError)
        XCTAssertEqual(try errorCode(of: inMain("for i in range(new [1], 5) { }")), .typeError)
        XCTAssertEqual(try errorCode(of: inMain("for i in range(0, 5, none) { }")), .typeError)
        XCTAssertEqual(try errorCode(of: inMain("repeat new [2] { }")), .typeError)
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

    func testACalleesLocalsStartAsNoneOverTheCallersIntegerTemporaries() throws {
        // The caller's frame above the call's arguments held integer temporaries (the sums, the
        // product); the callee's frame lies over them, and its unassigned local must read none.
        XCTAssertEqual(try output(of: """
            fn g(a) { if a > 100 { y = 5; z = 6 }  return y == none and z == none }
            main {
                t = (1 + 2) * (3 + 4) + (5 + 6) * (7 + 8)
                print t, g(t - 1000), (1 + 2) * (3 + 4) + g(0)
            }
            """), ["186 1 22"])
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

    // MARK: Regressions (bugs these tests found, fixed)

    /// A callee's frame starts inside the caller's temporaries, which keep the integers they last
    /// held; the callee's locals other than its parameters are not cleared, so a local assigned
    /// on one path only reads the caller's leftover instead of none.
    func testLocalAssignedOnOnePathReadsNoneEvenAfterACallersTemporaries() throws {
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

    /// A global's constant initial value that does not fit the interpreter's 63-bit integers
    /// silently becomes none (a param of the same value fails with run.overflow when read).
    func testGlobalInitialValueBeyond63BitsIsNotSilentlyNone() throws {
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
    func testExpectConditionTextIsOnlyTheCondition() throws {
        let result = try runProgram(inMain("""
            x = 1
            expect x == 1, "one"
            """))
        XCTAssertEqual(result.expects.first?.condition, "x == 1")
        let error = try XCTUnwrap(failure(of: inMain("x = 2; expect x == 1; print x")))
        XCTAssertTrue(error.message.hasPrefix("expect failed: x == 1 (left: 2, right: 1)"), error.message)
    }

    /// A phase left by continue, break or return never reaches its phaseEnd and is not counted.
    func testPhaseLeftByContinueOrReturnIsCounted() throws {
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
    func testForRangeEndingNearTheIntegerLimitEndsTheLoop() throws {
        XCTAssertEqual(try output(of: inMain("""
            for i in range(4611686018427387900, 4611686018427387903, 2) { print i }
            for i in range(-4611686018427387901, -4611686018427387904, -2) { print i }
            """)), ["4611686018427387900", "4611686018427387902", "-4611686018427387901", "-4611686018427387903"])
    }

    /// language.md: "The loop variable is an ordinary local (or global)", and the checker accepts
    /// a global; the compiler stops the process (Compiler.swift: "a loop variable is a local").
    /// Run through heapctl in a child process so that the crash does not take the tests with it.
    func testForLoopVariableMayBeAGlobal() throws {
        let child = try runInChildProcess("global g\nmain { for g in range(3) { } print g }\n")
        XCTAssertFalse(child.crashed, "heapctl crashed (signal \(child.status))")
        XCTAssertEqual(child.status, 0)
        XCTAssertEqual(child.output, "2\n")
    }
}
