// FrontEndOracle: what the front-end fuzzer holds heapd to, for any bytes at all.
//
//   - lexing, parsing, checking, compiling and running never crash or trap (a crash ends the
//     process: the campaign has written the source to `current.hw` before it starts);
//   - a rejected source yields at least one diagnostic, and each is placed inside the source:
//     line 1 ... lineCount and column 1 ... (that line's columns + 1), or no place (0:0) only
//     for the codes that belong to no place (E310, a missing main; E501, an unknown override);
//   - an accepted source compiles, and when run (a share of them: `run: true`) with tight
//     limits it releases everything it made and leaves a sound heap, however it ends.

import HeapWorkload

public enum FrontEndOracle {
    /// What became of one source.
    public enum Outcome: Sendable, Equatable {
        case rejected
        case compiled
        case ran
    }

    /// Diagnostic codes that belong to no place in the source.
    static let placeless: Set<DiagnosticCode> = [.missingMain, .unknownParamOverride]

    /// Checks one source; `setup` runs it when it compiles (nil: compile only).
    public static func judge(_ bytes: [UInt8], seed: UInt64, setup: RunSetup?) -> (Outcome, [Finding]) {
        func finding(_ kind: Finding.Kind, _ message: String) -> Finding {
            Finding(kind: kind, seed: seed, setup: setup, message: message, source: bytes)
        }
        let checked: CheckedProgram
        do {
            checked = try Program.parse(bytes: bytes, fileName: "mutated.hw")
        } catch {
            return (.rejected, misplaced(error).map { finding(.badDiagnostic, $0) })
        }
        let constants: RunConstants
        do {
            constants = try checked.constants(overrides: [:])
        } catch {
            return (.rejected, [finding(.badDiagnostic, "the checker accepted the program but its defaults do not evaluate: \(error.rendered())")])
        }
        _ = Compiler.compile(checked, constants: constants)
        guard let setup else { return (.compiled, []) }
        let result: RunResult
        do {
            result = try Workload.run(checked, configuration: tightConfiguration(setup))
        } catch {
            return (.ran, [finding(.badDiagnostic, "the run refused the program's own defaults: \(error.rendered())")])
        }
        var findings: [Finding] = []
        if result.leaked != 0 {
            findings.append(finding(.leak, "\(result.leaked) objects leaked (error: \(ProgramOracle.describe(result.error)))"))
        }
        if !result.heapProblems.isEmpty {
            findings.append(finding(.heapProblems, "the heap verifier: " + result.heapProblems.prefix(5).joined(separator: "; ")))
        }
        return (.ran, findings)
    }

    /// What is wrong with the diagnostics of a rejected source (empty: nothing).
    static func misplaced(_ list: DiagnosticList) -> [String] {
        guard !list.diagnostics.isEmpty else { return ["rejected without a diagnostic"] }
        var problems: [String] = []
        for diagnostic in list.diagnostics {
            let location = diagnostic.location
            if location == .none {
                if !placeless.contains(diagnostic.code) { problems.append("\(diagnostic.code.rawValue) has no place: \(diagnostic.message)") }
                continue
            }
            guard location.line >= 1 && location.line <= list.source.lineCount, let line = list.source.line(location.line) else {
                problems.append("\(diagnostic.code.rawValue) at line \(location.line) of \(list.source.lineCount): \(diagnostic.message)")
                continue
            }
            let columns = line.unicodeScalars.count
            if location.column < 1 || location.column > columns + 1 {
                problems.append("\(diagnostic.code.rawValue) at \(location) where line \(location.line) has \(columns) columns: \(diagnostic.message)")
            }
        }
        return problems
    }

    /// Limits under which any program ends soon: few steps and threads, a small heap, a second.
    static func tightConfiguration(_ setup: RunSetup) -> RunConfiguration {
        var configuration = setup.configuration(timeLimit: .seconds(1))
        configuration.maxSteps = 20_000
        configuration.maxThreads = 8
        configuration.maxChannels = 64
        configuration.maxCallDepth = 2_000
        configuration.registerStackWords = 1 << 16
        configuration.maxArrayLength = 1 << 16
        configuration.heapLimitBytes = 64 << 20
        return configuration
    }
}
