// FuzzCampaign: runs the two fuzzers for a number of programs and sources or for a time, and
// reports what they found.
//
//   program fuzzer    program k has seed `seed + k`: generated, checked (a rejection is a
//                     generator bug), run under every RunSetup, judged by ProgramOracle
//   front-end fuzzer  source k is a mutation (seed derived from `seed` and k) of a generated
//                     program or of a corpus file (workloads/), judged by FrontEndOracle; one
//                     accepted source in `runEvery` also runs, under a setup chosen in turn
//
// With a time limit both share it, programs about three quarters. Before each program or
// source runs, its text goes to `<save>/current.hw` (and what is running to `current.txt`), so
// a crash, which ends the process, leaves its reproducer behind; each finding is saved as
// `<save>/<kind>-<seed>.hw` with a `.txt` that says what went wrong.
//
// Threads: `run()` runs on the caller's thread; `heartbeat` may be read from any thread (a
// watchdog's: it grows with every run).

import Foundation
import HeapWorkload
import Synchronization

public struct FuzzOptions: Sendable {
    public var seed: UInt64 = 1
    /// Stop after this long (nil: only the counts stop the campaign).
    public var seconds: Double?
    /// Stop the program fuzzer after this many programs (nil: no count).
    public var programs: Int?
    /// Stop the front-end fuzzer after this many sources (nil: no count).
    public var sources: Int?
    public var runPrograms = true
    public var runFrontEnd = true
    /// Where `current.hw` and the findings go (nil: nowhere).
    public var saveDirectory: String?
    /// Valid sources the mutator starts from besides generated programs: (name, bytes).
    public var corpus: [(name: String, bytes: [UInt8])] = []
    /// One accepted mutated source in this many runs.
    public var runEvery = 10
    public var setups = RunSetup.all
    /// Told of each finding as it is found, and of progress now and then.
    public var log: (@Sendable (String) -> Void)?

    public init() {}
}

public struct FuzzReport: Sendable {
    public var programs = 0
    public var runs = 0
    /// Programs every configuration failed alike (tolerated; a generator that errs often is
    /// weak), with the first few errors.
    public var uniformErrors = 0
    public var uniformErrorSamples: [String] = []
    public var sources = 0
    public var sourcesAccepted = 0
    public var sourcesRun = 0
    public var programSeconds = 0.0
    public var frontEndSeconds = 0.0
    public var findings: [Finding] = []
    public var programFailures = 0
    public var frontEndFailures = 0
    public var setups: [RunSetup] = RunSetup.all

    public var failed: Bool { !findings.isEmpty }

    public var summary: String {
        let policies = Array(Set(setups.map(\.policy.rawValue))).sorted { a, b in
            let order = ["biased", "atomic", "global-lock"]
            return (order.firstIndex(of: a) ?? 9) < (order.firstIndex(of: b) ?? 9)
        }
        let collection = Set(setups.map(\.automaticCollection)).count == 2 ? "gc on/off" : setups.first?.automaticCollection == false ? "gc off" : "gc on"
        return "fuzz: \(programs) programs (\(runs) runs) under \(policies.joined(separator: "/")) × \(collection), "
            + "\(programFailures) failures (\(uniformErrors) failing alike everywhere); "
            + "front end: \(sources) sources (\(sourcesAccepted) accepted, \(sourcesRun) run), \(frontEndFailures) failures"
    }
}

public final class FuzzCampaign: Sendable {
    public let options: FuzzOptions
    /// Grows with every program run and every source: a watchdog's sign of life.
    public let heartbeat = Atomic<Int>(0)

    public init(options: FuzzOptions) {
        self.options = options
    }

    public func run() -> FuzzReport {
        var report = FuzzReport()
        report.setups = options.setups
        if let directory = options.saveDirectory {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let start = Date()
        var lastLog = start
        while true {
            let elapsed = Date().timeIntervalSince(start)
            if let seconds = options.seconds, elapsed >= seconds { break }
            let programsLeft = options.runPrograms && report.programs < (options.programs ?? .max)
            let sourcesLeft = options.runFrontEnd && report.sources < (options.sources ?? .max)
            guard programsLeft || sourcesLeft else { break }
            // Programs take about three quarters of the time when both run.
            if programsLeft && (!sourcesLeft || report.programSeconds <= 3 * report.frontEndSeconds) {
                let began = Date()
                runProgram(index: report.programs, into: &report)
                report.programSeconds += Date().timeIntervalSince(began)
            } else {
                let began = Date()
                for _ in 0..<20 where report.sources < (options.sources ?? .max) {
                    runSource(index: report.sources, into: &report)
                }
                report.frontEndSeconds += Date().timeIntervalSince(began)
            }
            if Date().timeIntervalSince(lastLog) >= 10 {
                lastLog = Date()
                options.log?("\(Int(lastLog.timeIntervalSince(start)))s: \(report.summary)")
            }
        }
        return report
    }

    // MARK: Programs

    func runProgram(index: Int, into report: inout FuzzReport) {
        let seed = options.seed &+ UInt64(index)
        let program = ProgramGenerator.generate(seed: seed)
        report.programs += 1
        save("current.hw", Array(program.source.utf8))
        let (findings, results) = FuzzCampaign.check(program, setups: options.setups) { setup in
            save("current.txt", Array("program seed \(seed) under \(setup)\n".utf8))
            heartbeat.add(1, ordering: .relaxed)
        }
        report.runs += results.count
        for finding in findings { record(finding, into: &report) }
        report.programFailures += findings.isEmpty ? 0 : 1
        if findings.isEmpty, program.expectedError == nil, let error = results.first?.1.error {
            report.uniformErrors += 1
            if report.uniformErrorSamples.count < 5 { report.uniformErrorSamples.append("seed \(seed): \(ProgramOracle.describe(error))") }
        }
    }

    /// Checks `program` (the checker must accept it), runs it under each setup (`beforeEachRun`
    /// first) and judges the results.
    public static func check(_ program: GeneratedProgram, setups: [RunSetup] = RunSetup.all,
                             beforeEachRun: (RunSetup) -> Void = { _ in }) -> ([Finding], [(RunSetup, RunResult)]) {
        let source = Array(program.source.utf8)
        let checked: CheckedProgram
        do {
            checked = try Program.parse(source: program.source, fileName: "fuzz-\(program.seed).hw")
        } catch {
            return ([Finding(kind: .rejected, seed: program.seed, message: "the checker rejected a generated program:\n\(error.rendered())", source: source)], [])
        }
        var results: [(RunSetup, RunResult)] = []
        for setup in setups {
            beforeEachRun(setup)
            do {
                results.append((setup, try Workload.run(checked, configuration: setup.configuration())))
            } catch {
                return ([Finding(kind: .rejected, seed: program.seed, setup: setup, message: "the run refused the program: \(error.rendered())", source: source)], results)
            }
        }
        return (ProgramOracle.judge(program, results: results), results)
    }

    // MARK: Front end

    func runSource(index: Int, into report: inout FuzzReport) {
        let seed = SplitMix64.derive(options.seed, UInt64(index))
        var random = SplitMix64(seed: seed)
        let base: [UInt8]
        if options.corpus.isEmpty || random.chance(50) {
            base = Array(ProgramGenerator.generate(seed: random.next()).source.utf8)
        } else {
            base = random.pick(options.corpus).bytes
        }
        let mutated = SourceMutator.mutate(base, seed: random.next())
        report.sources += 1
        save("current.hw", mutated)
        // Which accepted sources run is decided by the count of accepted ones, so that a
        // campaign runs one in `runEvery` of them whatever the mix.
        let runs = report.sourcesAccepted % max(options.runEvery, 1) == 0
        let setup = runs ? options.setups[report.sourcesRun % options.setups.count] : nil
        save("current.txt", Array("front-end source \(index) (seed \(seed))\(setup.map { " run under \($0)" } ?? "")\n".utf8))
        heartbeat.add(1, ordering: .relaxed)
        let (outcome, findings) = FrontEndOracle.judge(mutated, seed: seed, setup: setup)
        if outcome != .rejected { report.sourcesAccepted += 1 }
        if outcome == .ran { report.sourcesRun += 1 }
        for finding in findings { record(finding, into: &report) }
        report.frontEndFailures += findings.isEmpty ? 0 : 1
    }

    // MARK: Findings

    private func record(_ finding: Finding, into report: inout FuzzReport) {
        report.findings.append(finding)
        options.log?("FINDING \(finding)")
        let name = "\(finding.kind.rawValue)-\(finding.seed)"
        save(name + ".hw", finding.source)
        // One program's findings under several setups share the .hw; the .txt lists them all.
        save(name + ".txt", Array("\(finding)\n".utf8), appending: true)
    }

    /// Writes `bytes` to `<save>/name` with plain write(2): no fsync, no rename (FileManager's
    /// atomic write took a quarter of the front end's time); the page cache keeps what a crash
    /// of this process leaves. A reproducer that cannot be written does not stop the campaign.
    private func save(_ name: String, _ bytes: [UInt8], appending: Bool = false) {
        guard let directory = options.saveDirectory else { return }
        let descriptor = open(directory + "/" + name, O_WRONLY | O_CREAT | (appending ? O_APPEND : O_TRUNC), 0o644)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
    }
}
