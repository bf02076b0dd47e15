// The program generator: one seed gives one text; every program it makes passes the checker;
// together the programs use what issue 12 asks for (finalizers that allocate, resurrect, clear
// slots and collect; weak references with callbacks; cycles; threads, channels and globals;
// tiny thresholds, disable/enable, freeze/unfreeze).

import HeapFuzz
import HeapWorkload
import Testing

@Suite struct ProgramGeneratorTests {
    @Test func theSameSeedGivesTheSameProgram() {
        for seed: UInt64 in [0, 1, 42, 0xDEAD_BEEF, .max] {
            let first = ProgramGenerator.generate(seed: seed)
            let second = ProgramGenerator.generate(seed: seed)
            #expect(first.source == second.source)
            #expect(first.expectedError == second.expectedError)
            #expect(first.source.hasPrefix("# heapfuzz program, seed \(seed) "))
        }
        #expect(ProgramGenerator.generate(seed: 1).source != ProgramGenerator.generate(seed: 2).source)
    }

    @Test func splitMixIsTheReferenceSequence() {
        // The first outputs of SplitMix64 seeded with 0, as every implementation gives them.
        var random = SplitMix64(seed: 0)
        #expect(random.next() == 0xE220_A839_7B1D_CDAF)
        #expect(random.next() == 0x6E78_9E6A_A1B9_65F4)
    }

    @Test func everyProgramOfTheFirstTwoHundredSeedsChecks() {
        for seed: UInt64 in 0..<200 {
            let program = ProgramGenerator.generate(seed: seed)
            do {
                _ = try Program.parse(source: program.source, fileName: "seed-\(seed).hw")
            } catch {
                Issue.record("seed \(seed): the checker rejected the program:\n\(error.rendered())\n\(program.source)")
            }
        }
    }

    @Test func theProgramsCoverWhatTheIssueAsksFor() {
        let programs = (0..<200).map { ProgramGenerator.generate(seed: UInt64($0)) }
        let text = programs.map(\.source).joined(separator: "\n")
        for needle in ["finalize {", "= self", "self.", "gc.collect()", "weak(", "spawn ", "join(", "channel(", "send(", "recv(",
                       "gc.set_threshold(", "gc.disable()", "gc.enable()", "gc.freeze()", "gc.unfreeze()", "del ", "global ",
                       "param ", "phase ", "new [", ".parent = ", "repeat ", "while ", "for "] {
            #expect(text.contains(needle), "no program has \(needle)")
        }
        let scenarios = Set(programs.flatMap(\.scenarios))
        for name in ["list", "tree", "cycles", "weak", "recursion", "arrays", "resurrection", "collect-in-hooks", "workers",
                     "channel", "shared-global", "global-array", "racing-slots"] {
            #expect(scenarios.contains(name), "no program has the scenario \(name)")
        }
        #expect(programs.contains { $0.expectedError != nil }, "some programs fail on purpose")
        #expect(programs.filter { $0.expectedError != nil }.count < 30)
    }
}
