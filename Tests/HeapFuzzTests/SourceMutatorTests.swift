// The source mutator: deterministic, and it makes the kinds of damage the front end must survive.

@testable import HeapFuzz
import HeapWorkload
import Testing

@Suite struct SourceMutatorTests {
    private let source = Array(ProgramGenerator.generate(seed: 7).source.utf8)

    @Test func theSameSeedGivesTheSameMutation() {
        for seed: UInt64 in 0..<50 {
            #expect(SourceMutator.mutate(source, seed: seed) == SourceMutator.mutate(source, seed: seed))
        }
    }

    @Test func mutationsChangeTheSourceAndMostAreRejected() {
        var changed = 0
        var rejected = 0
        var invalidUTF8 = 0
        for seed: UInt64 in 0..<300 {
            let mutated = SourceMutator.mutate(source, seed: seed)
            if mutated != source { changed += 1 }
            if String(validating: mutated, as: UTF8.self) == nil { invalidUTF8 += 1 }
            if (try? Program.parse(bytes: mutated, fileName: "m.hw")) == nil { rejected += 1 }
        }
        #expect(changed > 270)
        #expect(rejected > 150)
        #expect(rejected < 300, "some mutations still check (and run)")
        #expect(invalidUTF8 > 0)
    }

    @Test func tokensJoinBackIntoTheSource() {
        #expect(SourceMutator.tokenize(source).flatMap { $0 } == source)
        #expect(SourceMutator.tokenize([]).isEmpty)
        #expect(SourceMutator.mutate([], seed: 3).count > 0)
    }
}
