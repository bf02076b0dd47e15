// RunPlan: a `run` request checked and translated into what the runner needs — the program,
// parsed and checked, and its RunConfiguration. Pure: it reads no socket, clock or file (a
// library workload's text comes from the `library` it is given) and throws a CodedError for the
// first thing wrong with the request:
//
//   check, in order                                       error
//   exactly one of source and workload                    bad_request
//   a workload name of letters, digits, '-', '_' that     bad_request
//     the library has
//   rc, collector, heap: names the runner knows           bad_request
//   the program parses                                    parse_error (the rendered diagnostics)
//   ... and checks                                        check_error
//   params (and threads) that the program declares and    bad_request
//     whose constants still evaluate
//
// The numeric fields are in range already (Request+Validation.swift), so no conversion here can
// trap. What the request leaves out comes from the settings: the policy, the collector (mode,
// thresholds, pause workers), the heap and time limits (defaults), NUMA nodes and pinning;
// output and threads are the daemon's maximums, never the request's. `"gc": false` turns
// automatic collection off (no collector thread) and keeps the rest of the collector as
// configured — `gc.get_threshold` still reports the daemon's thresholds.
//
// Callbacks (output, events, progress, cancellation) are the service's to attach: they close
// over the connection. An exec piece's configuration is `RunPlan.execConfiguration`.

import HeapCore
import HeapWorkload

struct RunPlan {
    var program: CheckedProgram
    /// The name diagnostics, results and the journal show.
    var fileName: String
    var configuration: RunConfiguration
    var stream: Bool
    /// Keep running if the connection closes.
    var detach: Bool
    /// Hold every worker slot (RunAdmission).
    var exclusive: Bool

    /// `library`: the text of the library workload of that name (already checked to be a plain
    /// name), or nil when there is none. `sharedHeap`: the heap of `"heap": "shared"` runs.
    init(_ request: Request, settings: ServiceConfiguration, sharedHeap: SharedHeap, library: (String) -> String?) throws(CodedError) {
        let source: String
        switch (request.source, request.workload) {
        case (let text?, nil):
            source = text
            fileName = request.fileName ?? "request.hw"
        case (nil, let name?):
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), let text = library(name) else {
                throw CodedError(.badRequest, "no library workload named '\(name)'")
            }
            source = text
            fileName = name + ".hw"
        default:
            throw CodedError(.badRequest, "a run needs exactly one of source and workload")
        }
        var configuration = RunConfiguration()
        configuration.collector = settings.collector
        configuration.simulatedNumaNodes = settings.numaNodes
        configuration.pinThreads = settings.pinThreads
        if let rc = request.rc ?? settings.defaultPolicy {
            guard let policy = RefCountPolicyKind(rawValue: rc) else {
                throw CodedError(.badRequest, "rc must be biased, atomic or global-lock, not '\(rc)'")
            }
            configuration.policy = policy
        }
        if let name = request.collector {
            guard let mode = CollectionMode(rawValue: name) else {
                throw CodedError(.badRequest, "collector must be concurrent or stop-the-world, not '\(name)'")
            }
            configuration.collector.mode = mode
        }
        if let mode = settings.striping { configuration.striping = mode }
        if let name = request.striping {
            guard let mode = StripingMode(rawValue: name) else {
                throw CodedError(.badRequest, "striping must be adaptive or off, not '\(name)'")
            }
            configuration.striping = mode
        }
        switch request.heap ?? "fresh" {
        case "fresh": break
        case "shared": configuration.sharedHeap = sharedHeap
        case let other: throw CodedError(.badRequest, "heap is fresh or shared, not '\(other)'")
        }
        configuration.params = request.params ?? [:]
        if let threads = request.threads { configuration.params["threads"] = Int64(threads) }
        if request.gc == false { configuration.collector.automatic = false }
        configuration.seed = request.seed ?? 1
        configuration.traceAllocations = request.trace ?? false
        configuration.memoryReport = request.memoryReport ?? false
        configuration.heapLimitBytes = (request.heapLimitMiB ?? settings.defaultHeapLimitMiB) << 20
        configuration.timeLimit = .milliseconds(Int((request.timeLimitSeconds ?? settings.defaultTimeLimitSeconds) * 1000))
        configuration.maxOutputBytes = settings.maxOutputBytes
        configuration.maxThreads = settings.maxThreads
        program = try RunPlan.check(source, fileName: fileName, messages: { $0.rendered() })
        // Params that the program does not declare, or that do not fit its constants.
        do throws(DiagnosticList) {
            _ = try program.constants(overrides: configuration.params)
        } catch {
            throw CodedError(.badRequest, error.rendered())
        }
        self.configuration = configuration
        stream = request.stream == true
        detach = request.detach == true
        exclusive = request.exclusive == true
    }

    /// `source` parsed and checked, or `parse_error` (it did not parse) or `check_error` (it
    /// did not check) with the diagnostics as `messages` writes them.
    static func check(_ source: String, fileName: String, messages: (DiagnosticList) -> String) throws(CodedError) -> CheckedProgram {
        do throws(DiagnosticList) {
            return try Program.parse(source: source, fileName: fileName)
        } catch {
            throw CodedError(error.isSyntaxError ? .parseError : .checkError, messages(error))
        }
    }

    /// The most an exec piece may use: its heap (MiB) and time (s), when the defaults are larger.
    static let execHeapLimitMiB = 256
    static let execTimeLimitSeconds = 30.0

    /// How an exec piece runs: the default policy, manual collection (so that counts and
    /// collections repeat exactly when the session is replayed), the defaults' heap and time
    /// limits but at most 256 MiB and 30 s, and the daemon's output and thread maximums.
    static func execConfiguration(_ settings: ServiceConfiguration) -> RunConfiguration {
        var configuration = RunConfiguration()
        if let chosen = settings.defaultPolicy.flatMap(RefCountPolicyKind.init(rawValue:)) { configuration.policy = chosen }
        configuration.collector = .manual
        configuration.timeLimit = .milliseconds(Int(min(settings.defaultTimeLimitSeconds, execTimeLimitSeconds) * 1000))
        configuration.heapLimitBytes = min(settings.defaultHeapLimitMiB, execHeapLimitMiB) << 20
        configuration.maxOutputBytes = settings.maxOutputBytes
        configuration.maxThreads = settings.maxThreads
        return configuration
    }
}
