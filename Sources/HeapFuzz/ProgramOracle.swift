// ProgramOracle: what the program fuzzer holds heapd to. A program is run under six
// configurations — the three reference-counting policies × automatic collection on (the
// collector thread, as users run heapd) and off (collection only by gc.collect() and at the end
// of the run, as `heapctl bench --gc off`) — and the six results must agree:
//
//   - every run released everything it made (`leaked == 0`) and the heap verifier found nothing;
//   - either all six ended well, or all six failed with the same error code (and when the
//     generator wrote a deliberate failure, with that code);
//   - a program the generator did not make to fail did not fail its `expect`s (they are answers
//     the generator computed, so a failure in all six is still heapd's fault, or the generator's);
//   - all six printed the same lines (generated programs print only what is deterministic).

import HeapCore
import HeapWorkload

/// One of the six configurations a program runs under.
public struct RunSetup: Sendable, Hashable, CustomStringConvertible {
    public var policy: RefCountPolicyKind
    /// The collector thread collects when counts cross thresholds; false: `CollectorConfiguration.manual`.
    public var automaticCollection: Bool

    public init(policy: RefCountPolicyKind, automaticCollection: Bool) {
        self.policy = policy
        self.automaticCollection = automaticCollection
    }

    /// biased/atomic/global-lock × gc on/off.
    public static let all: [RunSetup] = RefCountPolicyKind.allCases.flatMap { policy in
        [true, false].map { RunSetup(policy: policy, automaticCollection: $0) }
    }

    public var description: String { "\(policy.rawValue), gc \(automaticCollection ? "on" : "off")" }

    /// The run's configuration: bounded so that a runaway program fails instead of hanging the
    /// campaign (generated programs stay far below every bound).
    public func configuration(timeLimit: Duration = .seconds(30)) -> RunConfiguration {
        var configuration = RunConfiguration()
        configuration.policy = policy
        if !automaticCollection { configuration.collector = .manual }
        configuration.timeLimit = timeLimit
        configuration.heapLimitBytes = 512 << 20
        configuration.maxThreads = 64
        return configuration
    }
}

/// Something a campaign found wrong.
public struct Finding: Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The checker rejected a generated program (a generator bug).
        case rejected
        case leak
        case heapProblems = "heap-problems"
        /// Some configurations failed and others did not, or with other codes.
        case errorMismatch = "error-mismatch"
        /// All six failed where the program promised to end well (or failed otherwise than promised).
        case unexpectedError = "unexpected-error"
        case outputMismatch = "output-mismatch"
        /// The front end rejected a source without a diagnostic, or with one placed outside it.
        case badDiagnostic = "bad-diagnostic"
    }

    public var kind: Kind
    /// The generator's seed (for a mutated source, the seed of its mutation).
    public var seed: UInt64
    /// The configuration it showed under, when it is one.
    public var setup: RunSetup?
    public var message: String
    public var source: [UInt8]

    public init(kind: Kind, seed: UInt64, setup: RunSetup? = nil, message: String, source: [UInt8]) {
        self.kind = kind
        self.seed = seed
        self.setup = setup
        self.message = message
        self.source = source
    }

    public var description: String {
        "\(kind.rawValue) (seed \(seed)\(setup.map { ", \($0)" } ?? "")): \(message)"
    }
}

public enum ProgramOracle {
    /// Findings for one program's results, one per configuration (in any order).
    public static func judge(_ program: GeneratedProgram, results: [(RunSetup, RunResult)]) -> [Finding] {
        let source = Array(program.source.utf8)
        func finding(_ kind: Finding.Kind, _ setup: RunSetup?, _ message: String) -> Finding {
            Finding(kind: kind, seed: program.seed, setup: setup, message: message, source: source)
        }
        var findings: [Finding] = []
        for (setup, result) in results {
            if result.leaked != 0 {
                findings.append(finding(.leak, setup, "\(result.leaked) objects leaked (error: \(describe(result.error)))"))
            }
            if !result.heapProblems.isEmpty {
                findings.append(finding(.heapProblems, setup, "the heap verifier: " + result.heapProblems.prefix(5).joined(separator: "; ")))
            }
        }
        guard let (firstSetup, first) = results.first else { return findings }
        let codes = Set(results.map { $0.1.error?.code })
        if codes.count > 1 {
            let lines = results.map { "\($0.0): \(describe($0.1.error))" }
            findings.append(finding(.errorMismatch, nil, "the configurations disagree: " + lines.joined(separator: " | ")))
        } else if let code = codes.first ?? nil, code != program.expectedError, code == .expectFailed || program.expectedError != nil {
            findings.append(finding(.unexpectedError, nil, "every configuration failed: \(describe(first.error))"))
        } else if codes.first ?? nil == nil, let expected = program.expectedError {
            findings.append(finding(.unexpectedError, nil, "every configuration ended well, where the program fails with \(expected.rawValue)"))
        }
        for (setup, result) in results.dropFirst() where result.output != first.output {
            findings.append(finding(.outputMismatch, setup, "output differs from \(firstSetup)'s: " + difference(first.output, result.output)))
        }
        return findings
    }

    /// The first line where two outputs differ.
    static func difference(_ a: [String], _ b: [String]) -> String {
        let index = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(a.count, b.count)
        let left = index < a.count ? "\"\(a[index])\"" : "(end)"
        let right = index < b.count ? "\"\(b[index])\"" : "(end)"
        return "line \(index + 1): \(left) against \(right)"
    }

    static func describe(_ error: RunError?) -> String {
        error.map { "\($0.code.rawValue) at \($0.line):\($0.column) in \($0.function): \($0.message)" } ?? "none"
    }
}
