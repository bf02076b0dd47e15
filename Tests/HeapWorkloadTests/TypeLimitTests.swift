// Type tables, issue 12: a program with more types than a program may declare is E313; a run whose
// types do not fit its heap's registry fails with run.type-limit instead of stopping the process;
// a program's type named like the heap's own weak-reference type is a type of its own.

import HeapCore
import HeapWorkload
import Testing

/// `count` declarations `type T0 { }` ... and a main that makes a T0.
private func programWithTypes(_ count: Int) -> String {
    (0..<count).map { "type T\($0) { }\n" }.joined() + "main { x = new T0; print 1 }\n"
}

@Suite struct TypeLimitTests {
    @Test func moreTypesThanAProgramMayDeclareIsE313AtTheFirstOneTooMany() {
        let source = programWithTypes(Program.maximumTypes + 1)
        do {
            _ = try Program.parse(source: source, fileName: "types.hw")
            Issue.record("a program with \(Program.maximumTypes + 1) types checked")
        } catch {
            #expect(error.diagnostics.map(\.code) == [.tooManyTypes])
            #expect(error.diagnostics.first?.location.line == Program.maximumTypes + 1)
            #expect(error.diagnostics.first?.message.contains("at most 4096 types") == true)
        }
    }

    @Test func aProgramAtTheLimitChecksAndRuns() throws {
        let checked = try Program.parse(source: programWithTypes(Program.maximumTypes), fileName: "types.hw")
        var configuration = RunConfiguration()
        configuration.collector = .manual
        let result = try Workload.run(checked, configuration: configuration)
        #expect(result.ok)
        #expect(result.output == ["1"])
        #expect(result.leaked == 0)
    }

    @Test func aRunWhoseTypesDoNotFitFailsWithTypeLimitAndGivesBackWhatItTook() throws {
        // 8 ids: the heap's <weakref>, then 7 for runs; 5 types and the interpreter's 3 need 8.
        let shared = SharedHeap(collector: .manual, typeCapacity: 8)
        var configuration = RunConfiguration()
        configuration.sharedHeap = shared
        let tooMany = try Workload.run(try Program.parse(source: programWithTypes(5), fileName: "five.hw"), configuration: configuration)
        #expect(!tooMany.ok)
        #expect(tooMany.error?.code == .typeLimit)
        #expect(tooMany.error?.code.rawValue == "run.type-limit")
        #expect(tooMany.error?.fileName == "five.hw")
        #expect(tooMany.output == [])
        #expect(tooMany.allocations == 0)
        #expect(shared.heap.types.count == 1)
        // 4 types and 3 fit the 7 ids left, and go back at the run's end.
        let fits = try Workload.run(try Program.parse(source: programWithTypes(4), fileName: "four.hw"), configuration: configuration)
        #expect(fits.ok)
        #expect(fits.output == ["1"])
        #expect(shared.heap.types.count == 1)
    }

    @Test func aTypeNamedWeakrefIsTheProgramsOwn() throws {
        // It used to be the heap's weak-reference type: another shape stopped the process, the
        // same shape made weak references of the program's objects.
        for source in ["type weakref { a }\nmain { x = new weakref; x.a = x; del x; print gc.collect() }\n",
                       "type weakref { callback; payload 8 }\nmain { x = new weakref; print x }\n"] {
            var configuration = RunConfiguration()
            configuration.collector = .manual
            let result = try Workload.run(try Program.parse(source: source, fileName: "weakref.hw"), configuration: configuration)
            #expect(result.ok)
            #expect(result.output == [source.contains("callback") ? "<weakref>" : "1"])
            #expect(result.leaked == 0)
        }
    }
}
