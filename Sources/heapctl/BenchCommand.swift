// heapctl bench: runs one workload over every combination of thread count, reference-counting
// policy, automatic collection on/off and collection mode, several times each, and reports per
// combination the median wall time, its spread, the median throughput and the collections (or
// every run as JSON, CSV, and an SVG chart of throughput against threads).
//
// Order: repeats are interleaved — every combination once, then every combination again — so a
// burst of machine noise lands on all combinations alike instead of on one of them.
//
//   runs = |threads| × |rc| × |gc| × |collector| × repeat   (each one `exclusive` in heapd)
//
// Exit status: 0 every run ended well, 1 a run failed (the table says which), 2 the program or
// the command line is wrong, 3 no daemon could be reached.

import ArgumentParser
import Foundation
import HeapCore
import HeapService
import HeapWorkload

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run a workload over threads × rc × gc × collector and compare.",
        discussion: "FILE is a path to a .hw file or a library workload's name, as for `heapctl run`. Every run is exclusive in heapd (it waits until no other run is running). Without --threads the program's own `threads` (if any) is used.")

    @Argument(help: "The workload file (.hw), or a library workload's name.")
    var file: String

    @Option(help: "Thread counts to try, comma-separated (sets the program's `threads` param).")
    var threads: String?

    @Option(help: "Reference-counting policies to try, comma-separated: biased, atomic, global-lock.")
    var rc: String = "biased"

    @Option(help: "Automatic collection to try, comma-separated: on, off.")
    var gc: String = "on"

    @Option(help: "Collection modes to try, comma-separated: concurrent, stop-the-world.")
    var collector: String = "concurrent"

    @Option(help: "Striping to try under biased counting, comma-separated: adaptive, off (the other policies do not stripe).")
    var striping: String = "adaptive"

    @Option(name: .customLong("repeat"), help: "Runs of each combination.")
    var repeatCount: Int = 3

    @Option(name: .customLong("param"), help: "Override a param: name=value (repeatable).")
    var params: [String] = []

    @Option(help: "Seed of rand().")
    var seed: UInt64 = 1

    @Option(help: "Heap limit of each run in MiB (default: 4096; through heapd, its `heap_limit_mib` setting).")
    var heapLimit: Int?

    @Option(help: ConnectionOptions.socketHelp)
    var socket: String?

    @Option(help: ConnectionOptions.runTimeoutHelp)
    var timeout: Double?

    @Flag(help: "Run in this process, without a daemon (a library name is looked up in ./workloads).")
    var embedded = false

    @Option(help: "Write one CSV line per run to this file.")
    var csv: String?

    @Option(help: "Write an SVG chart of median throughput against threads to this file.")
    var svg: String?

    @Flag(help: "Print every run as JSON instead of the table.")
    var json = false

    func validate() throws {
        try LimitChecks.heapLimit(heapLimit)
        try ConnectionOptions.check(timeout: timeout)
    }

    func run() throws {
        var plan = try BenchPlan(threads: threads, rc: rc, gc: gc, collector: collector, repeatCount: repeatCount, params: params)
        try plan.setStripings(striping)
        let runner: BenchRunner = embedded ? try EmbeddedRunner(file: file)
            : try DaemonRunner(file: file, socketPath: socket ?? Client.clientSocketPath(), heapLimitMiB: heapLimit,
                               timeout: ConnectionOptions.duration(timeout, fallback: nil))
        if plan.threads != [nil], !runner.declaresThreads(file: file) {
            fail("\(file) declares no `threads` param, so --threads cannot set it (binary-trees, cycle-churn, larson and shared-refcount declare one)", status: 2)
        }
        var runs: [BenchRun] = []
        for repetition in 1...plan.repeatCount {
            for combination in plan.combinations {
                var configuration = plan.baseConfiguration(seed: seed, heapLimitMiB: heapLimit)
                if let count = combination.threads { configuration.params["threads"] = Int64(count) }
                configuration.policy = RefCountPolicyKind(rawValue: combination.policy)!
                if !combination.gc { configuration.collector = .manual }
                configuration.collector.mode = CollectionMode(rawValue: combination.collector)!
                configuration.striping = StripingMode(rawValue: combination.striping)!
                let outcome = try runner.run(configuration, gc: combination.gc)
                runs.append(BenchRun(combination: combination, repetition: repetition, outcome: outcome))
                if !json {
                    FileHandle.standardError.write("\(combination.label) #\(repetition): \(runs.last!.ok ? BenchReport.seconds(runs.last!.wallSeconds) + " s" : "FAILED")\n".data(using: .utf8)!)
                }
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            Swift.print(String(decoding: try encoder.encode(runs), as: UTF8.self))
        } else {
            Swift.print(BenchReport.table(BenchReport.rows(runs, order: plan.combinations), showsPeakRSS: embedded), terminator: "")
        }
        if let csv { try write(BenchReport.csv(runs), to: csv) }
        if let svg {
            let chart = BenchReport.chart(BenchReport.rows(runs, order: plan.combinations), plan: plan, file: file)
            try write(chart, to: svg)
        }
        if runs.contains(where: { !$0.ok }) { throw ExitCode(1) }
    }

    private func write(_ text: String, to path: String) throws {
        do {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            fail("cannot write \(path): \(error.localizedDescription)", status: 2)
        }
    }
}

/// Prints `heapctl: message` on stderr and exits with `status`.
private func fail(_ message: String, status: Int32) -> Never {
    ExitStatus.fail(message, status: status)
}

// MARK: - The plan

/// One point of the sweep. `threads` nil: the program's own value (no `threads` override).
struct BenchCombination: Hashable, Codable, Sendable {
    var threads: Int?
    var policy: String
    var gc: Bool
    /// The collection mode: `concurrent` or `stop-the-world`.
    var collector: String
    /// `adaptive` or `off` (StripingMode); only biased counting stripes.
    var striping = "adaptive"

    var label: String {
        "threads=\(threads.map(String.init) ?? "default") rc=\(policy) gc=\(gc ? "on" : "off") collector=\(collector)"
            + (striping == "adaptive" ? "" : " striping=\(striping)")
    }
}

/// The parsed command line: the axes of the sweep and the fixed params.
struct BenchPlan {
    var threads: [Int?]
    var policies: [String]
    var gcSettings: [Bool]
    var collectors: [String]
    /// Striping modes (`setStripings`), tried with biased counting only.
    var stripings = ["adaptive"]
    var repeatCount: Int
    var params: [String: Int64]

    init(threads: String?, rc: String, gc: String, collector: String, repeatCount: Int, params: [String]) throws {
        func items(_ list: String) -> [String] { list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        if let threads {
            self.threads = try items(threads).map { item in
                guard let count = Int(item), count > 0 else { throw ValidationError("--threads takes positive integers, not '\(item)'") }
                return count
            }
        } else {
            self.threads = [nil]
        }
        policies = try items(rc).map { item in
            guard RefCountPolicyKind(rawValue: item) != nil else { throw ValidationError("--rc takes biased, atomic or global-lock, not '\(item)'") }
            return item
        }
        gcSettings = try items(gc).map { item in
            switch item {
            case "on": return true
            case "off": return false
            default: throw ValidationError("--gc takes on and off, not '\(item)'")
            }
        }
        collectors = try items(collector).map { item in
            guard CollectionMode(rawValue: item) != nil else { throw ValidationError("--collector takes concurrent and stop-the-world, not '\(item)'") }
            return item
        }
        guard !self.threads.isEmpty, !policies.isEmpty, !gcSettings.isEmpty, !collectors.isEmpty else {
            throw ValidationError("--threads, --rc, --gc and --collector need at least one value each")
        }
        guard repeatCount > 0 else { throw ValidationError("--repeat must be at least 1") }
        self.repeatCount = repeatCount
        self.params = try ParamOverrides.parse(params)
        guard self.params["threads"] == nil else { throw ValidationError("set threads with --threads, not --param") }
    }

    /// `--striping`: a comma-separated list of adaptive and off.
    mutating func setStripings(_ list: String) throws {
        stripings = try list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.map { item in
            guard StripingMode(rawValue: item) != nil else { throw ValidationError("--striping takes adaptive and off, not '\(item)'") }
            return item
        }
        guard !stripings.isEmpty else { throw ValidationError("--striping needs at least one value") }
    }

    /// The striping modes tried with `policy`: every one under biased counting, else the first
    /// (the others do not stripe, so the runs would repeat).
    func stripings(for policy: String) -> [String] {
        policy == RefCountPolicyKind.biased.rawValue ? stripings : [stripings[0]]
    }

    /// Every combination, threads outermost, then policy (and striping), then gc, then collector
    /// (the table's order).
    var combinations: [BenchCombination] {
        threads.flatMap { count in
            policies.flatMap { policy in
                stripings(for: policy).flatMap { striping in
                    gcSettings.flatMap { gc in
                        collectors.map { BenchCombination(threads: count, policy: policy, gc: gc, collector: $0, striping: striping) }
                    }
                }
            }
        }
    }

    /// `heapLimitMiB` nil: RunConfiguration's default (heapd's own, through heapd).
    func baseConfiguration(seed: UInt64, heapLimitMiB: Int?) -> RunConfiguration {
        var configuration = RunConfiguration()
        configuration.params = params
        configuration.seed = seed
        if let heapLimitMiB { configuration.heapLimitBytes = heapLimitMiB << 20 }
        return configuration
    }
}

// MARK: - Runners

/// What one run gave: its result (also for most failures), or only an error message.
enum BenchOutcome {
    case finished(RunResult)
    case failed(String)
}

/// Runs one configuration: through heapd, or in this process.
protocol BenchRunner {
    /// Whether the program declares a `threads` param (true when that cannot be known here).
    func declaresThreads(file: String) -> Bool
    func run(_ configuration: RunConfiguration, gc: Bool) throws -> BenchOutcome
}

/// Reads a workload's text: a file, or (`library` set) `<library>/<name>.hw`; nil when neither exists.
private func workloadSource(_ file: String, library: String?) -> (text: String, fileName: String)? {
    if FileManager.default.fileExists(atPath: file) {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { fail("cannot read \(file)", status: 2) }
        return (text, file)
    }
    guard let library, let text = try? String(contentsOfFile: library + "/" + file + ".hw", encoding: .utf8) else { return nil }
    return (text, file + ".hw")
}

/// In process, with `Workload.run`. Peak RSS is made per run by resetting the process's
/// high-water mark before each run (`/proc/self/clear_refs`) and reading VmHWM after it.
struct EmbeddedRunner: BenchRunner {
    let checked: CheckedProgram

    init(file: String) throws {
        guard let source = workloadSource(file, library: "workloads") else { fail("cannot read \(file) (nor workloads/\(file).hw)", status: 2) }
        do throws(DiagnosticList) {
            checked = try Program.parse(source: source.text, fileName: source.fileName)
        } catch {
            fail(error.rendered(), status: 2)
        }
    }

    func declaresThreads(file: String) -> Bool { checked.program.params.contains { $0.name == "threads" } }

    func run(_ configuration: RunConfiguration, gc: Bool) throws -> BenchOutcome {
        let resetHighWater = (try? "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)) != nil
        var result: RunResult
        do throws(DiagnosticList) {
            result = try Workload.run(checked, configuration: configuration)
        } catch {
            fail(error.rendered(), status: 2)
        }
        if resetHighWater, let highWater = Self.highWaterBytes() { result.peakRSSBytes = highWater }
        return .finished(result)
    }

    /// VmHWM of /proc/self/status, in bytes.
    private static func highWaterBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else { return nil }
        return kib * 1024
    }
}

/// Through heapd, on one connection, each run `exclusive`.
final class DaemonRunner: BenchRunner {
    private let client: Client
    private let file: String
    /// The program's text when FILE is a file here (nil: a library name heapd looks up).
    private let source: (text: String, fileName: String)?
    /// What --heap-limit asked for (nil: heapd's `heap_limit_mib`).
    private let heapLimitMiB: Int?
    private var nextID = 1
    private let socketPath: String
    private let timeout: Duration?

    init(file: String, socketPath: String, heapLimitMiB: Int?, timeout: Duration?) throws {
        self.file = file
        self.heapLimitMiB = heapLimitMiB
        self.socketPath = socketPath
        self.timeout = timeout
        source = workloadSource(file, library: nil)
        do {
            client = try ServerCheck.connect(socketPath, timeout: timeout)
        } catch let error as ClientError {
            fail(ExitStatus.describe(error, path: socketPath, timeout: timeout), status: ExitStatus.unreachable)
        }
    }

    func declaresThreads(file: String) -> Bool {
        guard let source else { return true }
        guard let checked = try? Program.parse(source: source.text, fileName: source.fileName) else { return true }
        return checked.program.params.contains { $0.name == "threads" }
    }

    func run(_ configuration: RunConfiguration, gc: Bool) throws -> BenchOutcome {
        var request = Request(id: .number(nextID), op: "run")
        nextID += 1
        if let source {
            request.source = source.text
            request.fileName = source.fileName
        } else {
            request.workload = file
        }
        request.params = configuration.params
        request.rc = configuration.policy.rawValue
        request.collector = configuration.collector.mode.rawValue
        request.striping = configuration.striping.rawValue
        request.seed = configuration.seed
        request.heapLimitMiB = heapLimitMiB
        request.gc = gc
        request.exclusive = true
        do {
            var refusal = try client.sendOrReadRefusal(request)
            while true {
                let response = try refusal ?? client.receive()
                refusal = nil
                switch (response.type, response.result, response.code) {
                case ("result", let result?, _):
                    return .finished(result)
                case ("error", let result?, _):
                    return .finished(result)
                case ("error", nil, "bad_request"?) where source == nil && configuration.params["threads"] != nil && (response.message ?? "").contains("'threads'"):
                    fail("\(file) declares no `threads` param, so --threads cannot set it (binary-trees, cycle-churn, larson and shared-refcount declare one)", status: 2)
                case ("error", nil, let code?) where ExitStatus.of(errorCode: code) != ExitStatus.failed:
                    // A bad program, or heapd refusing the sweep (busy, forbidden: a member may not
                    // run exclusive runs): the sweep stops with the status that says which.
                    fail("\(code): \(response.message ?? "")", status: ExitStatus.of(errorCode: code))
                case ("error", nil, let code):
                    return .failed("\(code ?? "error"): \(response.message ?? "")")
                default:
                    continue
                }
            }
        } catch let error as ClientError {
            fail(ExitStatus.describe(error, path: socketPath, timeout: timeout), status: ExitStatus.unreachable)
        }
    }
}
