// The compiler's bytecode for small programs (Instruction.swift's table; Support/Disassembly.swift
// for the notation): locals first and temporaries as a stack, the `x.s == none` test on a known
// type without a load, call arguments in consecutive registers at the top of the stack, fused
// compare-and-branch in conditions, and ownership — every temporary that may hold an object is
// moved into its consumer or cleared.

import HeapWorkload
import XCTest

final class CompilerTests: XCTestCase {
    // MARK: Layout

    func testFunctionsThenMainThenFinalizers() throws {
        let program = try XCTUnwrap(compiled("""
            type A { x, finalize { print 1 } }
            type B { y }
            type C { finalize { print 2 } }
            fn f(a, b) { return a }
            fn g() { }
            main { }
            """))
        XCTAssertEqual(program.functions.map(\.name), ["f", "g", "main", "A.finalize", "C.finalize"])
        XCTAssertEqual(program.mainIndex, 2)
        XCTAssertEqual(program.functions.map(\.parameterCount), [2, 0, 0, 1, 1])
        XCTAssertEqual(program.types.map(\.finalizer), [3, nil, 4])
        XCTAssertEqual(program.types.map(\.slots), [["x"], ["y"], []])
    }

    func testConstantsAreFoldedForTheRun() throws {
        let checked = try XCTUnwrap(checkedProgram("""
            param n = 4
            param size = 1 << n
            global g = size + 1
            global h
            type Blob { payload size }
            main { print n, size }
            """))
        let program = Compiler.compile(checked, constants: try checked.constants(overrides: ["n": 10]))
        XCTAssertEqual(program.globalNames, ["g", "h"])
        XCTAssertEqual(program.globalInitialValues, [1025, nil])
        XCTAssertEqual(program.types[0].payloadBytes, 1024)
        XCTAssertEqual(Disassembly.lines(program.functions[program.mainIndex], in: program),
                       ["loadInt 0, 10", "loadInt 1, 1024", "print 0", "retNone"])
    }

    func testIntegerTableHoldsEachValueOnce() throws {
        let program = try XCTUnwrap(compiled("main { a = 7; b = 7 + 7; c = 8 }"))
        XCTAssertEqual(program.integers, [7, 8])
    }

    func testFrameIsLocalsPlusDeepestTemporaries() throws {
        let program = try XCTUnwrap(compiled("""
            fn f(a) { b = a + 1; return (a + 1) * (b + 2) }
            main { }
            """))
        // Locals a, b; the return's temporaries stay taken until the statement ends: a + 1 and
        // b + 2 (each one addImmediate, no register for its constant) and the product.
        XCTAssertEqual(program.functions[0].frameSize, 2 + 3)
        XCTAssertEqual(program.functions[0].locations.count, program.functions[0].code.count)
    }

    func testEveryBodyEndsWithRetNone() throws {
        let program = try XCTUnwrap(compiled("""
            type T { finalize { } }
            fn f() { return 1 }
            main { }
            """))
        for function in program.functions { XCTAssertEqual(function.code.last?.op, .retNone, function.name) }
    }

    // MARK: Conditions

    func testSlotNoneTestOfAKnownTypeIsOneJumpWithoutALoad() {
        XCTAssertEqual(disassembly("""
            type Node { left, right }
            fn f() {
                x = new Node
                if x.right == none { return 1 }
                return 2
            }
            main { }
            """, of: "f"), [
                "new 0, 0",
                "jumpIfSlotNotNone 0, 1, 3",
                "retImmediate 1",
                "retImmediate 2",
                "retNone",
            ])
    }

    func testSlotNotNoneTestOfAKnownTypeJumpsWhenTheSlotIsNone() {
        let code = disassembly("""
            type Node { left }
            main { x = new Node; while x.left != none { x.left = none } }
            """)
        XCTAssertEqual(code, [
            "new 0, 0",
            "jumpIfSlotNone 0, 0, 5",
            "loadNone 1",
            "setSlotUnpublished 0, 0, 1",   // x was never published (UnpublishedObjectsTests)
            "loop 1",
            "retNone",
        ])
    }

    func testSlotNoneTestOfATemporaryClearsItOnBothPaths() {
        XCTAssertEqual(disassembly("""
            type Node { left }
            main { if (new Node).left == none { print 1 } }
            """), [
                "new 0, 0",
                "jumpIfSlotNotNone 0, 0, 4",
                "clear 0",
                "jump 6",
                "clear 0",
                "jump 8",
                "loadInt 1, 1",
                "print 0",
                "retNone",
            ])
    }

    func testSlotNoneTestThroughAParameterIsLookedUpByName() {
        // A parameter has no known type: the slot is read by name, compared, and the read cleared.
        XCTAssertEqual(disassembly("""
            type Node { left }
            fn f(p) { if p.left == none { return 1 }  return 0 }
            main { }
            """, of: "f"), [
                "jumpIfSlotNamedNotNone 0, 0, 2",
                "retImmediate 1",
                "retImmediate 0",
                "retNone",
            ])
    }

    func testComparisonsInIfAndElifFuseIntoJumpUnless() {
        XCTAssertEqual(disassembly("""
            main {
                a = 1; b = 2
                if a < b { print a } elif a == b { print b } elif a >= 5 { print 5 } else { print 0 }
            }
            """), [
                "loadInt 0, 1",
                "loadInt 1, 2",
                "jumpUnlessLess 0, 1, 5",
                "print 0",
                "jump 14",
                "jumpUnlessEqual 0, 1, 8",
                "print 1",
                "jump 14",
                "jumpUnlessGreaterEqualImmediate 0, 5, 12",
                "loadInt 2, 5",
                "print 2",
                "jump 14",
                "loadInt 2, 0",
                "print 3",
                "retNone",
            ])
    }

    func testEveryComparisonHasItsJumpUnless() {
        let pairs: [(String, String)] = [
            ("==", "jumpUnlessEqual"), ("!=", "jumpUnlessNotEqual"), ("<", "jumpUnlessLess"),
            ("<=", "jumpUnlessLessEqual"), (">", "jumpUnlessGreater"), (">=", "jumpUnlessGreaterEqual"),
        ]
        for (op, jump) in pairs {
            XCTAssertEqual(disassembly("main { a = 1; b = 2; while a \(op) b { a = 3 } }"), [
                "loadInt 0, 1", "loadInt 1, 2", "\(jump) 0, 1, 5", "loadInt 0, 3", "loop 2", "retNone",
            ], op)
        }
    }

    func testAndInAConditionChainsJumpsAndNotInvertsIt() {
        XCTAssertEqual(disassembly("main { a = 1; b = 2; if a < b and not b { print a } }"), [
            "loadInt 0, 1",
            "loadInt 1, 2",
            "jumpUnlessLess 0, 1, 5",
            "jumpIfTrue 1, 5",
            "print 0",
            "retNone",
        ])
    }

    func testComparisonOfAnObjectTemporaryIsComputedThenCleared() {
        XCTAssertEqual(disassembly("""
            global g
            main { if g == none { print 1 } }
            """), [
                "loadGlobal 0, 0",
                "loadNone 1",
                "equal 2, 0, 1",
                "clear 0",
                "jumpIfFalse 2, 7",
                "loadInt 3, 1",
                "print 0",
                "retNone",
            ])
    }

    func testObjectConditionBecomesItsTruthBeforeTheBranch() {
        XCTAssertEqual(disassembly("""
            type Node { left }
            global g
            main { while g { g = none } }
            """), [
                "loadGlobal 0, 0",
                "not 1, 0",
                "not 1, 1",
                "clear 0",
                "jumpIfFalse 1, 8",
                "loadNone 2",
                "storeGlobal 0, 2",
                "loop 0",
                "retNone",
            ])
    }

    // MARK: Calls

    func testCallArgumentsAreConsecutiveRegistersAtTheTop() throws {
        let program = try XCTUnwrap(compiled("""
            fn g(a, b, c) { return a }
            main { x = 1; y = g(x, x + 1, 3); print y }
            """))
        let main = program.functions[program.mainIndex]
        XCTAssertEqual(Disassembly.lines(main, in: program), [
            "loadInt 0, 1",
            "move 2, 0",
            "addImmediate 3, 0, 1",
            "loadInt 4, 3",
            "call 2, 0, 1",
            "print 0",
            "retNone",
        ])
        XCTAssertEqual(main.frameSize, 5)
    }

    func testNestedCallsStackTheirArgumentsAboveTheOuterOnes() {
        XCTAssertEqual(disassembly("""
            fn f(a, b) { return a }
            main { x = f(1, f(2, 3)) }
            """), [
                "loadInt 1, 1",
                "loadInt 3, 2",
                "loadInt 4, 3",
                "call 3, 0, 2",
                "call 1, 0, 0",
                "retNone",
            ])
    }

    func testCallResultWithoutADestinationLandsInTheFirstArgumentRegister() {
        XCTAssertEqual(disassembly("""
            type Node { left, right }
            fn check(n) { return 1 }
            fn f(n) { return 1 + check(n.left) }
            main { }
            """, of: "f"), [
                "getSlotNamed 1, 0, 0",
                "call 1, 0, 1",
                "addImmediate 1, 1, 1",   // the sum overwrites (and so releases) the call's result
                "ret 1",
                "retNone",
            ])
    }

    func testArithmeticOnObjectTemporariesWritesOverOneOfThemInsteadOfClearing() {
        // With no destination, an operation on a temporary that may hold an object (a call's
        // result) writes its result over it; on integers and locals a fresh temporary is used.
        XCTAssertEqual(disassembly("""
            fn f() { return 1 }
            fn g(a, b) { x = f() - f(); y = f() * a; return -f() + (a * b) }
            main { }
            """, of: "g"), [
                "call 4, 0, 4",
                "call 5, 0, 5",
                "subtract 2, 4, 5",       // into the local x: both temporaries cleared
                "clear 5",
                "clear 4",
                "call 4, 0, 4",
                "multiply 3, 4, 0",       // into the local y
                "clear 4",
                "call 4, 0, 4",
                "negate 4, 4",            // written over: no clear
                "multiply 5, 0, 1",
                "add 6, 4, 5",
                "ret 6",
                "retNone",
            ])
    }

    func testReturnOfASmallConstantCarriesItInTheInstruction() {
        XCTAssertEqual(disassembly("""
            param big = 1 << 40
            fn f(x) { if x > 0 { return -3 }  if x < 0 { return big }  return 536870912 }
            main { }
            """, of: "f"), [
                "jumpUnlessGreaterImmediate 0, 0, 2",
                "retImmediate -3",
                "jumpUnlessLessImmediate 0, 0, 5",
                "loadInt 1, 1099511627776",
                "ret 1",
                "retImmediate 536870912",
                "retNone",
            ])
        XCTAssertEqual(try output(of: """
            fn f(x) { if x > 0 { return -3 }  return 536870912 }
            main { print f(1), f(0) }
            """), ["-3 536870912"])
    }

    func testArithmeticOnTwoObjectTemporariesWritesOverTheRightOneAndClearsTheLeft() {
        XCTAssertEqual(disassembly("""
            fn f() { return 1 }
            fn g() { return f() - f() }
            main { }
            """, of: "g"), ["call 0, 0, 0", "call 1, 0, 1", "subtract 1, 0, 1", "clear 0", "ret 1", "retNone"])
    }

    func testSpawnTakesItsArgumentsLikeACall() {
        XCTAssertEqual(disassembly("""
            fn w(a, b) { return a }
            main { t = spawn w(1, 2); print join(t) }
            """), [
                "loadInt 1, 1",
                "loadInt 2, 2",
                "spawn 0, 0, 1, 2",
                "builtin 1, \(Builtin.allCases.firstIndex(of: .join)!), 0, -1",
                "print 0",
                "clear 1",
                "retNone",
            ])
    }

    // MARK: Ownership of temporaries

    func testSlotStoreOfACallResultMovesIt() {
        XCTAssertEqual(disassembly("""
            type Node { left, right }
            fn make(d) {
                n = new Node
                if d > 0 { n.left = make(d - 1); n.right = make(d - 1) }
                return n
            }
            main { }
            """, of: "make"), [
                "new 1, 0",
                "jumpUnlessGreaterImmediate 0, 0, 8",
                "addImmediate 2, 0, -1",
                "call 2, 0, 2",
                "setSlotUnpublishedMove 1, 0, 2",
                "addImmediate 2, 0, -1",
                "call 2, 0, 2",
                "setSlotUnpublishedMove 1, 1, 2",
                "ret 1",
                "retNone",
            ])
    }

    func testStoresOfLocalsCopyAndStoresOfTemporariesMove() {
        XCTAssertEqual(disassembly("""
            type Node { left }
            global g
            main {
                n = new Node
                n.left = n
                g = n
                g = new Node
                a = new [2]
                a[0] = n
                a[1] = new Node
            }
            """), [
                "new 0, 0",
                "setSlotUnpublished 0, 0, 0",
                "storeGlobal 0, 0",
                "new 2, 0",
                "storeGlobalMove 0, 2",
                "loadInt 2, 2",
                "newArray 1, 2",
                "loadInt 2, 0",
                "setElementUnpublished 1, 2, 0",
                "loadInt 2, 1",
                "new 3, 0",
                "setElementUnpublishedMove 1, 2, 3",
                "retNone",
            ])
    }

    func testSlotReadThroughATemporaryClearsIt() {
        XCTAssertEqual(disassembly("""
            type Node { left }
            global g
            main { g = new Node; h = g.left; g.left = g }
            """), [
                "new 1, 0",
                "storeGlobalMove 0, 1",
                "loadGlobal 1, 0",
                "getSlotNamed 0, 1, 0",
                "clear 1",
                "loadGlobal 1, 0",
                "loadGlobal 2, 0",
                "setSlotNamedMove 1, 0, 2",
                "clear 1",
                "retNone",
            ])
    }

    func testCallStatementClearsItsResult() {
        XCTAssertEqual(disassembly("""
            type Node { left }
            fn f() { return new Node }
            main { f() }
            """), ["call 0, 0, 0", "clear 0", "retNone"])
    }

    func testPrintAndExpectClearTheirObjectOperands() {
        XCTAssertEqual(disassembly("""
            type Node { left }
            global g
            main { print g, 1; expect g == none, "gone" }
            """), [
                "loadGlobal 0, 0",
                "loadInt 1, 1",
                "print 0",
                "clear 0",
                "loadGlobal 0, 0",
                "loadNone 1",
                "expectCompare 0, 1, 0, 0",
                "clear 0",
                "retNone",
            ])
    }

    func testLogicalOperatorsEvaluateIntoAFreshTemporary() {
        // `x = y or x` must read x before x is written.
        XCTAssertEqual(disassembly("main { x = 0; y = 0; x = y or x }"), [
            "loadInt 0, 0",
            "loadInt 1, 0",
            "move 2, 1",
            "jumpIfTrue 2, 5",
            "move 2, 0",
            "move 0, 2",
            "clear 2",
            "retNone",
        ])
    }

    func testDeleteClearsALocalAndStoresNoneInAGlobal() {
        XCTAssertEqual(disassembly("""
            global g
            main { x = 1; del x; del g }
            """), ["loadInt 0, 1", "clear 0", "loadNone 1", "storeGlobal 0, 1", "retNone"])
    }

    func testBuiltinsReturningObjectsAreClearedAndOthersAreNot() {
        let deref = Builtin.allCases.firstIndex(of: .deref)!
        let refcount = Builtin.allCases.firstIndex(of: .refcount)!
        XCTAssertEqual(disassembly("""
            type Node { left }
            main { n = new Node; w = weak(n); print deref(w), refcount(n) }
            """), [
                "new 0, 0",
                "weak 1, 0, -1",
                "builtin 2, \(deref), 1, -1",          // deref's value may be an object: cleared below
                "builtin 3, \(refcount), 0, 0",        // refcount of a local: no temporary to discount
                "print 0",
                "clear 2",
                "retNone",
            ])
    }

    // MARK: Loops

    func testForRangeWithAStepChecksItAndContinueGoesToTheIncrement() {
        XCTAssertEqual(disassembly("main { for i in range(10, 0, -2) { if i == 4 { continue } print i } }"), [
            "loadInt 1, 10",
            "loadInt 2, 0",
            "loadInt 3, -2",
            "checkStep 3",
            "forCheck 1, 2, 3, 10",
            "move 0, 1",
            "jumpUnlessEqualImmediate 0, 4, 8",
            "jump 9",
            "print 0",
            "forStep 1, 2, 3, 5",
            "retNone",
        ])
    }

    func testForRangeWithoutAStepHasNoCheck() {
        XCTAssertEqual(disassembly("main { for i in range(3) { break } }"), [
            "loadInt 1, 0",
            "loadInt 2, 3",
            "loadInt 3, 1",
            "forCheck 1, 2, 3, 7",
            "move 0, 1",
            "jump 7",
            "forStep 1, 2, 3, 4",
            "retNone",
        ])
    }

    func testRepeatCountsDownAndLoopsBack() {
        XCTAssertEqual(disassembly("main { x = 0; repeat 5 { if x == 2 { continue } x = x + 1 } }"), [
            "loadInt 0, 0",
            "loadInt 1, 5",
            "repeatCheck 1, 7",
            "jumpUnlessEqualImmediate 0, 2, 5",
            "jump 6",
            "addImmediate 0, 0, 1",
            "loop 2",
            "retNone",
        ])
    }

    func testWhileContinueLoopsToTheHeadAndBreakLeaves() {
        XCTAssertEqual(disassembly("main { x = 0; while x < 9 { x = x + 1; if x == 3 { continue } if x == 5 { break } } }"), [
            "loadInt 0, 0",
            "jumpUnlessLessImmediate 0, 9, 8",
            "addImmediate 0, 0, 1",
            "jumpUnlessEqualImmediate 0, 3, 5",
            "loop 1",
            "jumpUnlessEqualImmediate 0, 5, 7",
            "jump 8",
            "loop 1",
            "retNone",
        ])
    }

    // MARK: Side tables

    func testExpectSitesKeepTheConditionAndMessage() throws {
        let program = try XCTUnwrap(compiled("""
            main {
                x = 1
                expect x == 1, "one"
                expect x
            }
            """))
        XCTAssertEqual(program.expects.map(\.message), ["one", nil])
        XCTAssertEqual(program.expects.map(\.location.line), [3, 4])
        XCTAssertEqual(program.expects[1].condition, "x")
        XCTAssertEqual(Disassembly.lines(program.functions[program.mainIndex], in: program), [
            "loadInt 0, 1",
            "loadInt 1, 1",
            "expectCompare 0, 1, 0, 0",
            "expect 0, 1",
            "retNone",
        ])
    }

    func testPhasesAndPrintListsAndSlotNames() throws {
        let program = try XCTUnwrap(compiled("""
            type A { s, t }
            type B { t }
            fn f(p) { print "t is", p.t, "s is", p.s; return p.t }
            main { phase "build" { x = 1 } phase "use" { } }
            """))
        XCTAssertEqual(program.phases, ["build", "use"])
        XCTAssertEqual(program.slotNames, ["t", "s"])
        XCTAssertEqual(program.printLists, [[.text("t is"), .register(1), .text("s is"), .register(2)]])
        XCTAssertEqual(Disassembly.lines(program.functions[program.mainIndex], in: program),
                       ["phaseBegin 0", "loadInt 0, 1", "phaseEnd 0", "phaseBegin 1", "phaseEnd 1", "retNone"])
    }

    func testSetThresholdTakesConsecutiveArguments() {
        XCTAssertEqual(disassembly("main { gc.set_threshold(100, 5) }"), ["loadInt 0, 100", "loadInt 1, 5", "setThreshold 0, 2", "retNone"])
    }

    func testWeakCallbackIsTheFunctionIndex() {
        XCTAssertEqual(disassembly("""
            type Node { left }
            fn a(w) { }
            fn cb(w) { }
            main { n = new Node; w = weak(n, cb) }
            """), ["new 0, 0", "weak 1, 0, 1", "retNone"])
    }

    func testRunTimeErrorsPointAtTheOperation() throws {
        let program = try XCTUnwrap(compiled("""
            main {
                x = 1
                y = x / 0
            }
            """))
        let main = program.functions[program.mainIndex]
        let divide = try XCTUnwrap(main.code.firstIndex { $0.op == .divide })
        XCTAssertEqual(main.locations[divide].line, 3)
        XCTAssertEqual(main.locations[divide].column, 11, "a binary operation is located at its operator")
    }
}
