// The checker's resolution: what each name, call, slot and type resolves to, the locals of each
// body (the compiler's registers), statically known types, and the run constants.

import HeapWorkload
import XCTest

final class CheckerTests: XCTestCase {
    func testNamesResolveToLocalsParamsAndGlobals() {
        let source = """
            param n = 3
            global shared
            fn f(a, b) { c = a + b + n; shared = c; return c }
            main { x = f(1, 2); print x, shared }
            """
        XCTAssertEqual(checkedDump(source), """
            param n = 3
            global shared
            fn f(a, b) {(= c@local2 (+ (+ a@local0 b@local1) n@param0)); (= shared@global0 c@local2); (return c@local2)}
            main {(= x@local0 (call f@fn0 1 2)); (print x@local0 shared@global0)}
            """)
    }

    func testLocalsAreListedInOrderOfFirstAssignment() throws {
        let program = try XCTUnwrap(checkedProgram("""
            fn f(p) { if p { b = 1 } else { a = 2 }; for i in range(3) { b = i }; del a; return p }
            main { }
            """)).program
        XCTAssertEqual(program.functions[0].locals.map(\.name), ["p", "b", "a", "i"])
        XCTAssertEqual(program.functions[0].locals.map(\.location.column), [6, 18, 33, 46])
        XCTAssertEqual(program.main?.locals, [])
    }

    func testFinalizerHasSelfAsLocalZeroWithItsType() throws {
        let program = try XCTUnwrap(checkedProgram("""
            type T { next, finalize { n = self.next; print n } }
            main { }
            """)).program
        let finalizer = try XCTUnwrap(program.types[0].finalizer)
        XCTAssertEqual(finalizer.locals.map(\.name), ["self", "n"])
        XCTAssertEqual(finalizer.locals[0].knownType, 0)
        XCTAssertEqual(SyntaxDump.dump(finalizer.body), "{(= n@local1 (. self next@0.0)); (print n@local1)}")
    }

    func testKnownTypesResolveSlotsToIndices() throws {
        let source = """
            type A { x, y }
            type B { y }
            fn f(p) { a = new A; b = new B; b = new B; m = new A; m = new B; p = new A
                return a.y + b.y + m.y + p.y + (new A).x }
            main { }
            """
        let program = try XCTUnwrap(checkedProgram(source)).program
        XCTAssertEqual(program.functions[0].locals.map(\.knownType), [nil, 0, 1, nil])
        XCTAssertTrue(SyntaxDump.dump(program).contains(
            "(return (+ (+ (+ (+ (. a@local1 y@0.1) (. b@local2 y@1.0)) (. m@local3 y@byName)) (. p@local0 y@byName)) (. (new A@0) x@0.0)))"))
    }

    func testLoopVariablesHaveNoKnownTypeButDeletedLocalsKeepTheirs() throws {
        let source = """
            type A { x }
            main { a = new A; del a; b = new A; for b in range(1) { }; c = new A; c = new A }
            """
        let program = try XCTUnwrap(checkedProgram(source)).program
        XCTAssertEqual(program.main?.locals.map(\.knownType), [0, nil, 0])
    }

    func testCallsResolveToFunctionsAndBuiltins() {
        let source = """
            fn gone(w) { }
            fn work(ch) { send(ch, none); return 1 }
            main {
                ch = channel(1); t = spawn work(ch); w = weak(ch, gone)
                print len(new [2]), deref(w), refcount(ch), rand(5), recv(ch), join(t)
                close(ch); gc.collect(); gc.collect(1); gc.enable(); gc.disable(); gc.freeze(); gc.unfreeze()
                gc.set_threshold(700); gc.set_threshold(700, 10, 10)
                print gc.isenabled(), gc.get_count(0), gc.get_threshold(1), gc.is_tracked(ch), gc.is_finalized(ch)
            }
            """
        let dump = checkedDump(source)
        XCTAssertTrue(dump.contains("(= t@local1 (spawn work@fn1 ch@local0)); (= w@local2 (call weak@builtin ch@local0 gone@fn0))"), dump)
        XCTAssertTrue(dump.contains("(call join@builtin t@local1)"), dump)
        XCTAssertTrue(dump.contains("(call gc.set_threshold@builtin 700 10 10)"), dump)
        XCTAssertTrue(dump.contains("(call gc.is_finalized@builtin ch@local0)"), dump)
    }

    func testEveryResolutionFieldIsFilled() throws {
        let workload = try XCTUnwrap(checkedProgram("""
            type T { s }
            fn f(x) { return x.s }
            main { t = new T; t.s = t; print f(t) }
            """))
        let dump = SyntaxDump.dump(workload.program)
        XCTAssertFalse(dump.contains(" s)"), dump)
        XCTAssertTrue(dump.contains("(new T@0)"), dump)
    }

    func testBooleansAreIntegers() {
        XCTAssertEqual(checkedDump("main { x = true and not false }"), "main {(= x@local0 (and 1 (not 0)))}")
    }

    // MARK: Run constants

    func testDefaultConstants() throws {
        let workload = try XCTUnwrap(checkedProgram("""
            param depth = 4
            param count = 1 << depth
            param negative = -7 / 2
            global g = count * 2
            global h
            global i = none
            type Small { payload depth * 8 }
            type Plain { s }
            main { }
            """))
        XCTAssertEqual(workload.defaultConstants.params, [4, 16, -4])
        XCTAssertEqual(workload.defaultConstants.payloads, [32, 0])
        XCTAssertEqual(workload.defaultConstants.globals, [32, nil, nil])
    }

    func testOverridesReplaceDefaultsAndFeedLaterParams() throws {
        let workload = try XCTUnwrap(checkedProgram("param a = 2\nparam b = 10 / a\nmain { }"))
        XCTAssertEqual(workload.defaultConstants.params, [2, 5])
        XCTAssertEqual(try workload.constants(overrides: ["a": 5]).params, [5, 2])
        XCTAssertEqual(try workload.constants(overrides: ["a": 5, "b": 7]).params, [5, 7])
    }

    func testArithmeticFollowsPython() {
        func apply(_ op: BinaryOperator, _ a: Int64, _ b: Int64) -> Result<Int64, ArithmeticFault> { op.apply(a, b) }
        XCTAssertEqual(apply(.divide, -7, 2), .success(-4))
        XCTAssertEqual(apply(.divide, 7, -2), .success(-4))
        XCTAssertEqual(apply(.divide, -8, 2), .success(-4))
        XCTAssertEqual(apply(.remainder, -7, 2), .success(1))
        XCTAssertEqual(apply(.remainder, 7, -2), .success(-1))
        XCTAssertEqual(apply(.remainder, Int64.min, -1), .success(0))
        XCTAssertEqual(apply(.divide, Int64.min, -1), .failure(.overflow))
        XCTAssertEqual(apply(.divide, 1, 0), .failure(.divisionByZero))
        XCTAssertEqual(apply(.shiftLeft, 1, 62), .success(1 << 62))
        XCTAssertEqual(apply(.shiftLeft, 1, 63), .failure(.overflow))
        XCTAssertEqual(apply(.shiftLeft, -1, 63), .success(Int64.min))
        XCTAssertEqual(apply(.shiftLeft, 0, 1000), .success(0))
        XCTAssertEqual(apply(.shiftLeft, 1, -1), .failure(.negativeShift))
        XCTAssertEqual(apply(.shiftRight, -5, 1), .success(-3))
        XCTAssertEqual(apply(.shiftRight, -5, 64), .success(-1))
        XCTAssertEqual(apply(.add, Int64.max, 1), .failure(.overflow))
        XCTAssertEqual(apply(.less, 1, 2), .success(1))
    }
}
