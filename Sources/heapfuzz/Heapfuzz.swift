// heapfuzz: runs the program fuzzer and the front-end fuzzer (HeapFuzz) for a time or a count,
// prints a summary line and exits 1 when anything failed.
//
// Reproducers: before each program or source runs, its text is written to DIR/current.hw (and
// what runs to DIR/current.txt), so that a crash leaves it on disk; each finding is saved as
// DIR/<kind>-<seed>.hw with a .txt. A run that makes no progress for --hang-seconds is a hang:
// heapfuzz says so and exits 3, leaving current.hw. Exit status: 0 nothing found, 1 findings,
// 2 bad command line, 3 a hang.
//
// Also: `--print-program SEED` prints a generated program; `heapfuzz FILE...` replays
// reproducers (see Tests/HeapFuzzTests/Regressions); `--reduce FILE` shrinks one.

import ArgumentParser
import Foundation
import HeapFuzz
import HeapWorkload
import Synchronization

@main
struct Heapfuzz: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heapfuzz",
        abstract: "Fuzz heapd: generated programs under every policy with gc on and off, and mutated sources for the front end.",
        discussion: "Program k of a campaign has seed SEED + k: `heapfuzz --seed S --programs 1` runs the program of seed S again, and `--print-program S` prints it.")

    @Option(help: "Fuzz for this many seconds (default 60 when no count is given).")
    var seconds: Double?

    @Option(help: "Run this many generated programs (each under the six configurations); alone, with no --seconds or --sources, only these.")
    var programs: Int?

    @Option(help: "Run this many mutated sources through the front end; alone, with no --seconds or --programs, only these.")
    var sources: Int?

    @Option(help: "The campaign's seed (default: from the clock; printed).")
    var seed: UInt64?

    @Flag(help: "Only the front-end fuzzer.")
    var frontEndOnly = false

    @Flag(help: "Only the program fuzzer.")
    var programsOnly = false

    @Option(help: "Where current.hw and each finding's reproducer go (default: a new temporary directory).")
    var save: String?

    @Option(help: "Valid .hw files for the mutator to start from (searched recursively).")
    var corpus: String = "workloads"

    @Option(help: "Run one in this many mutated sources that the checker accepts.")
    var runEvery: Int = 10

    @Option(help: "Seconds without progress that count as a hang.")
    var hangSeconds: Double = 120

    @Option(help: "Print the program of this seed and exit.")
    var printProgram: UInt64?

    @Option(help: "Shrink this failing program (a reproducer) and write FILE.reduced.hw.")
    var reduce: String?

    @Option(help: "With --reduce: runs of each candidate before it counts as passing (failures that depend on timing).")
    var tries: Int = 10

    @Option(help: "With --reduce: keep only this kind of failure (leak, heap-problems, error-mismatch, ...; repeatable).")
    var kind: [String] = []

    @Option(name: .customLong("repeat"), help: "With replayed files: runs of each (failures that depend on timing show in some runs only).")
    var repetitions: Int = 1

    @Argument(help: "Reproducers to replay instead of fuzzing: programs under the six configurations; a file named frontend-*.hw through the front end (and a run under each configuration when it checks).")
    var replay: [String] = []

    func validate() throws {
        if frontEndOnly && programsOnly { throw ValidationError("--front-end-only and --programs-only exclude each other") }
        if let seconds, seconds <= 0 { throw ValidationError("--seconds must be positive") }
        if runEvery < 1 { throw ValidationError("--run-every must be at least 1") }
    }

    func run() throws {
        if let printProgram {
            print(ProgramGenerator.generate(seed: printProgram).source, terminator: "")
            return
        }
        if let reduce { return try reduceFile(reduce) }
        if !replay.isEmpty { return try replayFiles() }
        var options = FuzzOptions()
        options.seed = seed ?? UInt64(Date().timeIntervalSince1970 * 1000) % 1_000_000_000
        options.programs = programs
        options.sources = sources
        options.seconds = seconds ?? (programs == nil && sources == nil ? 60 : nil)
        // A count for one fuzzer alone, with no time given, runs that fuzzer alone: `--programs 1`
        // replays one program and ends (the other has no bound).
        let countsOnly = seconds == nil
        options.runPrograms = !frontEndOnly && !(countsOnly && programs == nil && sources != nil)
        options.runFrontEnd = !programsOnly && !(countsOnly && sources == nil && programs != nil)
        options.runEvery = runEvery
        let directory = save ?? NSTemporaryDirectory() + "heapfuzz-\(getpid())"
        options.saveDirectory = directory
        options.corpus = Heapfuzz.corpus(at: corpus)
        options.log = { line in
            print(line)
            fflush(nil)
        }
        print("heapfuzz: seed \(options.seed), reproducers in \(directory), corpus \(options.corpus.count) files")
        fflush(nil)
        let campaign = FuzzCampaign(options: options)
        watch({ campaign.heartbeat.load(ordering: .relaxed) }) {
            let running = (try? String(contentsOfFile: directory + "/current.txt", encoding: .utf8)) ?? "?"
            return running.trimmingCharacters(in: .whitespacesAndNewlines) + "; reproducer \(directory)/current.hw"
        }
        let report = campaign.run()
        for sample in report.uniformErrorSamples { print("failing alike everywhere: \(sample)") }
        for finding in report.findings {
            print("failure: \(finding)")
            print("  reproducer: \(directory)/\(finding.kind.rawValue)-\(finding.seed).hw")
        }
        print(report.summary)
        if report.failed { throw ExitCode(1) }
    }

    /// Replays saved reproducers, each `repetitions` times (up to its first failure).
    private func replayFiles() throws {
        var failed = false
        let replayed = Atomic<Int>(0)
        let current = Mutex("")
        watch({ replayed.load(ordering: .relaxed) }) { current.withLock { $0 } }
        for path in replay {
            current.withLock { $0 = path }
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            var findings: [Finding] = []
            var runs = 0
            for _ in 0..<max(repetitions, 1) where findings.isEmpty {
                replayed.add(1, ordering: .relaxed)
                if (path as NSString).lastPathComponent.hasPrefix("frontend-") {
                    for setup in RunSetup.all {
                        findings += FrontEndOracle.judge([UInt8](data), seed: 0, setup: setup).1
                        runs += 1
                    }
                } else {
                    let (found, results) = FuzzCampaign.check(GeneratedProgram(seed: 0, source: String(decoding: data, as: UTF8.self)))
                    findings = found
                    runs += results.count
                }
            }
            print("\(path): \(runs) runs, \(findings.isEmpty ? "ok" : "\(findings.count) failures")")
            for finding in findings { print("  \(finding)") }
            failed = failed || !findings.isEmpty
        }
        if failed { throw ExitCode(1) }
    }

    /// Finds the kinds of failure and the setups where the file fails, then shrinks it under those.
    private func reduceFile(_ path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
        let source = String(decoding: data, as: UTF8.self)
        var kinds = Set<Finding.Kind>()
        var setups = Set<RunSetup>()
        for _ in 0..<tries {
            let (findings, _) = FuzzCampaign.check(GeneratedProgram(seed: 0, source: source))
            for finding in findings {
                kinds.insert(finding.kind)
                if let setup = finding.setup { setups.insert(setup) }
            }
        }
        if !kind.isEmpty {
            let wanted = Set(try kind.map { name in
                guard let kind = Finding.Kind(rawValue: name) else { throw ValidationError("unknown kind of failure '\(name)'") }
                return kind
            })
            kinds.formIntersection(wanted)
        }
        guard !kinds.isEmpty else {
            print("\(path): no failure in \(tries) tries under the six configurations")
            throw ExitCode(1)
        }
        let chosen = setups.isEmpty ? RunSetup.all : RunSetup.all.filter(setups.contains)
        print("reducing \(path): \(kinds.map(\.rawValue).sorted().joined(separator: ", ")) under \(chosen.map(\.description).joined(separator: "; "))")
        fflush(nil)
        let reduced = ProgramReducer.reduce(source, kinds: kinds, setups: chosen, tries: tries) { line in
            print(line)
            fflush(nil)
        }
        let output = path.hasSuffix(".hw") ? String(path.dropLast(3)) + ".reduced.hw" : path + ".reduced.hw"
        guard FileManager.default.createFile(atPath: output, contents: Data((reduced + "\n").utf8)) else { throw ValidationError("cannot write \(output)") }
        print("wrote \(output) (\(reduced.split(separator: "\n").count) lines)")
    }

    /// Every .hw file under `path` (none when it does not exist).
    static func corpus(at path: String) -> [(name: String, bytes: [UInt8])] {
        guard let enumerator = FileManager.default.enumerator(atPath: path) else { return [] }
        var files: [(name: String, bytes: [UInt8])] = []
        for case let name as String in enumerator where name.hasSuffix(".hw") {
            if let data = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent(name)) {
                files.append((name, [UInt8](data)))
            }
        }
        return files.sorted { $0.name < $1.name }
    }

    /// A watchdog thread: no heartbeat for `hangSeconds` is a hang; `running` says what hung.
    private func watch(_ heartbeat: @escaping @Sendable () -> Int, running: @escaping @Sendable () -> String) {
        let limit = hangSeconds
        let thread = Thread {
            var last = heartbeat()
            var since = Date()
            while true {
                Thread.sleep(forTimeInterval: 1)
                let now = heartbeat()
                if now != last {
                    last = now
                    since = Date()
                } else if Date().timeIntervalSince(since) >= limit {
                    print("heapfuzz: HANG: no progress for \(Int(limit)) s while running \(running())")
                    fflush(nil)
                    _exit(3)
                }
            }
        }
        thread.start()
    }
}
