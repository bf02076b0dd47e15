// ProgramReducer: shrinks a failing program to a small reproducer, by lines (delta debugging,
// one pass after another until nothing more goes): it removes a line, a whole block (an opening
// line through its closing brace) or a block's braces only (keeping its body), and keeps each
// removal after which the checker still accepts the program and a run still shows a finding of
// the same kind. Failures that depend on timing show only sometimes: each candidate runs up to
// `tries` times under the given setups before it counts as passing.
//
// Made for generated programs, whose blocks open at the end of a line and close on a line of
// their own, and whose strings hold no braces.

import Foundation
import HeapWorkload

public enum ProgramReducer {
    /// Whether `source` still fails: it checks, and some run shows a finding of one of `kinds`.
    public static func fails(_ source: String, kinds: Set<Finding.Kind>, setups: [RunSetup], tries: Int) -> Bool {
        guard (try? Program.parse(source: source, fileName: "reduce.hw")) != nil else { return false }
        let program = GeneratedProgram(seed: 0, source: source)
        for _ in 0..<max(tries, 1) {
            let (findings, _) = FuzzCampaign.check(program, setups: setups)
            if findings.contains(where: { kinds.contains($0.kind) }) { return true }
        }
        return false
    }

    /// The smallest variant of `source` found that still fails (see `fails`).
    public static func reduce(_ source: String, kinds: Set<Finding.Kind>, setups: [RunSetup], tries: Int,
                              log: (String) -> Void = { _ in }) -> String {
        var lines = source.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var changed = true
        while changed {
            changed = false
            var index = 0
            while index < lines.count {
                var reduced = false
                for candidate in candidates(lines, at: index) {
                    if fails(candidate.joined(separator: "\n"), kinds: kinds, setups: setups, tries: tries) {
                        lines = candidate
                        reduced = true
                        changed = true
                        log("\(lines.count) lines")
                        break
                    }
                }
                if !reduced { index += 1 }
            }
        }
        return lines.joined(separator: "\n")
    }

    /// The variants of `lines` that drop what starts at `index`: the block (or line), then only
    /// the block's braces.
    static func candidates(_ lines: [String], at index: Int) -> [[String]] {
        let trimmed = lines[index].trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed != "}" else { return trimmed.isEmpty ? [removing(lines, index...index)] : [] }
        guard trimmed.hasSuffix("{"), let end = closing(lines, from: index) else { return [removing(lines, index...index)] }
        var unwrapped = lines
        unwrapped.remove(at: end)
        unwrapped.remove(at: index)
        return [removing(lines, index...end), unwrapped]
    }

    private static func removing(_ lines: [String], _ range: ClosedRange<Int>) -> [String] {
        var copy = lines
        copy.removeSubrange(range)
        return copy
    }

    /// The line that closes the block opened at the end of line `start`.
    private static func closing(_ lines: [String], from start: Int) -> Int? {
        var depth = 0
        for index in start..<lines.count {
            for character in lines[index] {
                if character == "{" { depth += 1 }
                if character == "}" { depth -= 1 }
            }
            if depth == 0 { return index }
        }
        return nil
    }
}
