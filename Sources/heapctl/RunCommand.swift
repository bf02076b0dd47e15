// heapctl run: runs a workload file and prints its output and a summary. With --json, through
// heapd: every event of the streamed run as heapd sends it, one JSON object a line (NDJSON: output,
// progress, phase, gc, then the result or error); --embedded: the structured result.
//
// Exit status (ExitStatus.swift): 0 the run ended well, 1 it failed (an expect, a run-time error, a
// limit), 2 the program or the command line is wrong (diagnostics on stderr), 3 no daemon could
// be reached (or it fell silent for --timeout), 4 heapd is busy, 5 forbidden.

import ArgumentParser
import Foundation
import HeapCore
import HeapService
import HeapWorkload

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a workload file.",
        discussion: "Sends the workload to heapd (see --socket), or with --embedded runs it in this process. FILE is a path to a .hw file, or the name of a library workload (binary-trees, cycle-churn, ...), which heapd looks up in its workloads directory.")

    @Flag(help: "Run in this process, without a daemon.")
    var embedded = false

    @Option(help: ConnectionOptions.socketHelp)
    var socket: String?

    @Argument(help: "The workload file (.hw), or a library workload's name.")
    var file: String

    @Option(name: .customLong("param"), help: "Override a param: name=value (repeatable).")
    var params: [String] = []

    @Option(help: "Set the program's `threads` param.")
    var threads: Int?

    @Option(help: "Reference counting: biased, atomic or global-lock (default: biased; through heapd, its `rc` setting).")
    var rc: String?

    @Option(help: "How collections find garbage: concurrent or stop-the-world (default: concurrent; through heapd, its `collector` setting).")
    var collector: CollectionMode?

    @Option(help: "Per-thread counts for hot shared objects under biased counting: adaptive or off (default: adaptive).")
    var striping: StripingMode?

    @Option(help: "Seed of rand().")
    var seed: UInt64 = 1

    @Option(help: "Heap limit in MiB (default: 4096; through heapd, its `heap_limit_mib` setting).")
    var heapLimit: Int?

    @Option(help: "Time limit in seconds (default: none; through heapd, its `time_limit_seconds` setting).")
    var timeLimit: Double?

    @Flag(help: "Pin the run's threads to CPUs, round-robin (--embedded).")
    var pin = false

    @Option(help: "Threads sharing a large collection's heap walk (--embedded; default: the CPUs, at most 8).")
    var pauseWorkers: Int?

    @Option(help: "Mutators that may validate batches in a concurrent collection's pause, 0 to 3 (--embedded; default 0).")
    var validationAssists: Int?

    @Option(help: "Nice levels the collecting thread gains for each pause, 0 to 20 (--embedded; default 10; where the system refuses, pauses run at its own priority).")
    var pausePriorityBoost: Int?

    @Flag(help: "Through heapd: print the run's events as NDJSON, one JSON object a line, the last one its result or error. With --embedded: print the structured result as JSON. Instead of the output and a summary.")
    var json = false

    @Flag(help: "Record where each object is made (allocation-site tracing) from the run's start.")
    var trace = false

    @Flag(help: "Print a memory report after the summary: snapshots by site and type, their differences, what is alive at the end and what keeps it alive, fragmentation (`memoryReport` in the JSON).")
    var memoryReport = false

    @Option(help: "Write the run's memory timeline (live, mapped and resident bytes, collections) to FILE: SVG when it ends in .svg, else CSV. Implies --memory-report.")
    var timeline: String?

    @Option(help: ConnectionOptions.runTimeoutHelp)
    var timeout: Double?

    func validate() throws {
        if let rc, RefCountPolicyKind(rawValue: rc) == nil {
            throw ValidationError("--rc must be biased, atomic or global-lock, not '\(rc)'")
        }
        try LimitChecks.heapLimit(heapLimit)
        try LimitChecks.timeLimit(timeLimit)
        try LimitChecks.threads(threads)
        try LimitChecks.option("--pause-workers", pauseWorkers, in: 1...256)
        try LimitChecks.option("--validation-assists", validationAssists, in: CollectorConfiguration.validationAssistsRange)
        try LimitChecks.option("--pause-priority-boost", pausePriorityBoost, in: CollectorConfiguration.pausePriorityBoostRange)
        try ConnectionOptions.check(timeout: timeout)
    }

    func run() throws {
        var configuration = RunConfiguration()
        if let rc { configuration.policy = RefCountPolicyKind(rawValue: rc)! }
        configuration.seed = seed
        if let heapLimit { configuration.heapLimitBytes = heapLimit << 20 }
        configuration.pinThreads = pin
        if let collector { configuration.collector.mode = collector }
        if let striping { configuration.striping = striping }
        if let pauseWorkers { configuration.collector.pauseWorkers = pauseWorkers }
        if let validationAssists { configuration.collector.validationAssists = validationAssists }
        if let pausePriorityBoost { configuration.collector.pausePriorityBoost = pausePriorityBoost }
        if let timeLimit { configuration.timeLimit = .milliseconds(Int(timeLimit * 1000)) }
        configuration.params = try ParamOverrides.parse(params)
        if let threads { configuration.params["threads"] = Int64(threads) }
        if !json { configuration.output = { line in Swift.print(line) } }
        configuration.traceAllocations = trace
        configuration.memoryReport = memoryReport || timeline != nil

        if !embedded { return try runThroughDaemon(params: configuration.params) }
        guard let data = FileManager.default.contents(atPath: file) else {
            FileHandle.standardError.write("heapctl: cannot read \(file)\n".data(using: .utf8)!)
            throw ExitCode(2)
        }
        let result: RunResult
        switch Self.parseAndRun([UInt8](data), file: file, configuration: configuration) {
        case .success(let finished): result = finished
        case .failure(let diagnostics):
            FileHandle.standardError.write((diagnostics.rendered() + "\n").data(using: .utf8)!)
            throw ExitCode(2)
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            Swift.print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            FileHandle.standardError.write(Summary.text(of: result).data(using: .utf8)!)
        }
        try showMemoryReport(result.memoryReport)
        if !result.ok { throw ExitCode(1) }
    }

    /// The memory report's text after the summary (not with --json: it is in the JSON), and the
    /// timeline's file.
    private func showMemoryReport(_ report: MemoryReport?) throws {
        guard let report else { return }
        if memoryReport && !json { FileHandle.standardError.write(("\n" + MemoryReportText.text(of: report)).data(using: .utf8)!) }
        guard let timeline else { return }
        let text = timeline.hasSuffix(".svg") ? TimelineChart.svg(report, title: "memory of \(file)") : TimelineChart.csv(report)
        do {
            try text.write(toFile: timeline, atomically: true, encoding: .utf8)
        } catch {
            FileHandle.standardError.write("heapctl: cannot write \(timeline): \(error)\n".data(using: .utf8)!)
            throw ExitCode(2)
        }
    }

    /// The `run` request for heapd: the program (FILE's text, or a library name) and only the
    /// settings asked for on the command line — the rest are heapd's own.
    func daemonRequest(params: [String: Int64]) throws -> Request {
        var request = Request(id: .number(1), op: "run")
        if FileManager.default.fileExists(atPath: file) {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                FileHandle.standardError.write("heapctl: cannot read \(file)\n".data(using: .utf8)!)
                throw ExitCode(2)
            }
            request.source = text
            request.fileName = file
        } else {
            request.workload = file
        }
        request.params = params
        request.rc = rc
        request.collector = collector?.rawValue
        request.striping = striping?.rawValue
        request.seed = seed
        request.heapLimitMiB = heapLimit
        request.timeLimitSeconds = timeLimit
        request.stream = true
        if trace { request.trace = true }
        if memoryReport || timeline != nil { request.memoryReport = true }
        return request
    }

    /// Sends the run to heapd and prints its events as they stream: the output and a live
    /// progress line, then the summary; with --json, every event line as heapd sent it.
    private func runThroughDaemon(params: [String: Int64]) throws {
        let request = try daemonRequest(params: params)
        let path = socket ?? Client.clientSocketPath()
        let timeout = ConnectionOptions.duration(timeout, fallback: nil)
        let live = isatty(2) != 0 && !json
        do {
            let client = try ServerCheck.connect(path, timeout: timeout)
            var refusal = try client.sendOrReadRefusal(request)
            while true {
                let line: String, response: Response
                if let refused = refusal {
                    line = String(decoding: try JSONEncoder().encode(refused), as: UTF8.self)
                    response = refused
                    refusal = nil
                } else {
                    line = try client.receiveLine()
                    response = try JSONDecoder().decode(Response.self, from: Data(line.utf8))
                }
                if json {
                    // Unbuffered: a script reading the pipe sees each event as it comes.
                    FileHandle.standardOutput.write(Data((line + "\n").utf8))
                }
                switch response.type {
                case "output":
                    if !json { Swift.print(response.line ?? "") }
                case "progress":
                    // A live line on a terminal; nothing when stderr is a file or a pipe.
                    if live, let progress = response.progress {
                        let text = String(format: "\r%.1f s  %.1f M allocations/s  heap %d MiB  %d collections ",
                                          progress.elapsedSeconds, progress.allocationsPerSecond / 1e6, progress.heapBytes >> 20, progress.collections)
                        FileHandle.standardError.write(text.data(using: .utf8)!)
                    }
                case "result", "error":
                    if live { FileHandle.standardError.write("\r\u{1B}[K".data(using: .utf8)!) }
                    if !json, let result = response.result {
                        FileHandle.standardError.write(Summary.text(of: result).data(using: .utf8)!)
                    }
                    if let result = response.result {
                        try showMemoryReport(result.memoryReport)
                    } else if !json {
                        FileHandle.standardError.write("heapctl: \(response.code ?? "error"): \(response.message ?? "")\n".data(using: .utf8)!)
                    }
                    if response.type == "result" { return }
                    // A run that ran and failed is 1 whatever its code; one refused before it ran
                    // says why (ExitStatus).
                    throw ExitCode(response.result == nil ? ExitStatus.of(errorCode: response.code) : ExitStatus.failed)
                default:
                    continue
                }
            }
        } catch let error as ClientError {
            ExitStatus.fail(ExitStatus.describe(error, path: path, timeout: timeout), status: ExitStatus.unreachable)
        }
    }

    static func parseAndRun(_ bytes: [UInt8], file: String, configuration: RunConfiguration) -> Result<RunResult, DiagnosticList> {
        do throws(DiagnosticList) {
            let checked = try Program.parse(bytes: bytes, fileName: file)
            return .success(try Workload.run(checked, configuration: configuration))
        } catch {
            return .failure(error)
        }
    }
}

/// `--collector concurrent|stop-the-world`: a mode by its raw value, and ArgumentParser's error
/// listing both for any other.
extension CollectionMode: ExpressibleByArgument {}

/// `--striping adaptive|off`, the same way.
extension StripingMode: ExpressibleByArgument {}
