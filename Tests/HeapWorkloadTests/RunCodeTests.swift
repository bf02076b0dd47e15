// The run's copy of the code (RunCode.swift), issue 18: jump operands become distances from the
// next instruction, every `x.s` resolved at run time gets a slot cache of its own, and what the
// loop does with them — slot caches that meet several types, and a return that clears only the
// frame's locals (a call clears its callee's locals over integers an earlier frame left).

@testable import HeapWorkload
import Testing

@Suite struct RunCodeTests {
    @Test func jumpsBecomeDistancesAndNamedSlotAccessesGetACacheEach() throws {
        let checked = try Program.parse(source: """
            type Cell { next, count }
            fn f(x) {
                total = 0
                while x.next != none {
                    x.count = x.count + 1
                    x = x.next
                    total = total + 1
                }
                for i in range(3) { if i == 1 { continue } total = total + i }
                return total
            }
            main { }
            """, fileName: "jumps.hw")
        let program = Compiler.compile(checked, constants: checked.defaultConstants)
        let code = RunCode(program: program, objectTypes: []) { _, _ in 0 }
        #expect(code.functionCount == program.functions.count)
        var caches: [Int32] = []
        var jumps = 0
        for (index, function) in program.functions.enumerated() {
            let entry = code.functions[index]
            for (pc, compiled) in function.code.enumerated() {
                let loaded = entry.code[pc]
                #expect(loaded.op == compiled.op)
                if let operand = Instruction.jumpOperand(compiled.op) {
                    jumps += 1
                    #expect(pc + 1 + Int(loaded[keyPath: operand]) == Int(compiled[keyPath: operand]), "\(compiled.op) at \(pc)")
                }
                if RunCode.isNamedSlotAccess(compiled.op) { caches.append(loaded.d) }
                #expect(code.pc(of: entry.code + pc, in: index) == pc)
            }
            #expect(entry.localCount == function.localCount)
        }
        #expect(jumps >= 4)
        // x.next (the test and the read), x.count (read and write): one cache per instruction.
        #expect(caches.count == 4)
        #expect(caches.sorted() == (0..<Int32(code.slotCacheCount)).map { $0 })
    }

    @Test func aNamedSlotMeetingTwoTypesWithTheSlotElsewhereReadsAndWritesTheRightOne() throws {
        // `s` is slot 0 of A and slot 1 of B: each access's cache is refilled at every other call.
        let result = try Workload.run(Program.parse(source: """
            type A { s, t }
            type B { t, s }
            fn get(x) { return x.s }
            fn put(x, v) { x.s = v }
            fn empty(x) {
                if x.s == none { return 1 }
                return 0
            }
            main {
                a = new A
                b = new B
                repeat 2 {
                    put(a, 1)
                    put(b, 2)
                    print get(a), get(b), empty(a), empty(b), a.t, b.t
                    a.s = none
                    print get(a), get(b), empty(a), empty(b)
                    b.s = none
                }
            }
            """, fileName: "caches.hw"), configuration: RunConfiguration())
        #expect(result.ok)
        #expect(result.output == ["1 2 0 0 none none", "none 2 1 0", "1 2 0 0 none none", "none 2 1 0"])
        #expect(result.leaked == 0)
    }

    @Test func aNamedSlotAFunctionsTypeDoesNotHaveIsStillAnError() throws {
        let result = try Workload.run(Program.parse(source: """
            type A { s }
            type B { t }
            fn get(x) { return x.s }
            main {
                print get(new A)
                print get(new B)
            }
            """, fileName: "unknown.hw"), configuration: RunConfiguration())
        #expect(result.output == ["none"])
        #expect(result.error?.code == .unknownSlot)
        #expect(result.error?.line == 3)
        #expect(result.leaked == 0)
    }

    @Test func aCalleesLocalsStartAsNoneOverIntegersAnEarlierFrameLeft() throws {
        // g's sum a + b is a temporary where f's z lies when f runs in the same place next.
        let result = try Workload.run(Program.parse(source: """
            fn g(a, b, c) { return a + b + c }
            fn f(c) {
                if c {
                    x = 5
                    y = 6
                    z = 7
                }
                return z
            }
            main {
                t = g(1, 2, 3) * 100 + g(4, 5, 6)
                print t, f(0), f(1), f(0)
            }
            """, fileName: "locals.hw"), configuration: RunConfiguration())
        #expect(result.ok)
        #expect(result.output == ["615 none 7 none"])
    }

    @Test func aReturnReleasesTheObjectsInTheFramesLocals() throws {
        // Each call's locals hold objects when it returns: nothing may stay alive or leak.
        let result = try Workload.run(Program.parse(source: """
            type Node { left, right }
            fn keep(n) {
                a = new Node
                b = new Node
                a.left = n
                b.left = a
                return n
            }
            main {
                n = new Node
                repeat 1000 { n = keep(n) }
                print refcount(n)
            }
            """, fileName: "release.hw"), configuration: RunConfiguration())
        #expect(result.ok)
        #expect(result.output == ["1"])
        #expect(result.leaked == 0)
    }
}
