// Service: what heapd does with a request line, independent of the socket — decode, check, dispatch
// by op, run workloads on a bounded pool, and answer through a reply callback (any thread).
//
//   a line      decoded (bad_json), a member's request checked against what members may
//               (Access.swift: forbidden), every numeric field against its range
//               (Request+Validation.swift: bad_request), then the op (unknown_op) — the switch
//               over Op below
//   runs        RunPlan turns the request into a checked program and its configuration,
//               RunAdmission takes it or refuses it (busy), the journal records it, the pool runs
//               it, RunEnding turns its outcome into the answer and the finished line
//               (Service+Run.swift; exec pieces the same way: Service+Exec.swift)
//   cancellation  every run of a connection carries a RunCancellation; `cancelAll` (the
//               connection closed) stops them at their next poll, and their heaps are released
//               as every run's are; a run registered after it is cancelled at once
//   draining    once the daemon is stopping (`shutdown`, `stopRuns`), new runs and execs are
//               refused with `shutting_down`, on every connection
//
// Every failure is an `error` response with a stable code (ErrorCode); nothing throws out of
// `handle`. What a client sent reaches the log clipped (`clippedForLog`): a request of a mebibyte
// makes a log line of at most a few hundred bytes.

import Dispatch
import Foundation
import HeapCore
import HeapWorkload
import Logging
import Synchronization

/// How the service runs.
public struct ServiceConfiguration: Sendable {
    /// Runs executing at once.
    public var workers = 2
    /// Runs waiting beyond those.
    public var queueLimit = 16
    /// The longest request line accepted (bytes).
    public var maxRequestBytes = 1 << 20
    /// Where `workload` names are looked up (`<name>.hw`).
    public var workloadDirectory: String?
    /// Applied to runs that ask for nothing else.
    public var defaultHeapLimitMiB = 1024
    public var defaultTimeLimitSeconds = 600.0
    /// The most a run may ask for: a request above is a bad request that names the maximum.
    public var maxHeapLimitMiB = 4096
    public var maxTimeLimitSeconds = 3600.0
    /// Bytes of output a run keeps and streams (RunConfiguration.maxOutputBytes).
    public var maxOutputBytes = 1 << 20
    /// Threads a run may spawn (RunConfiguration.maxThreads), and so the most `threads` may be.
    public var maxThreads = 256
    /// `phase` and `gc` events a streamed run sends at most; the rest are counted in its last
    /// response's `droppedEvents`.
    public var maxEvents = 10_000
    /// The shared heap's own limit, its runs' channels and stacks included.
    public var sharedHeapLimitMiB = 1024
    /// The policy of runs that name none (nil: biased).
    public var defaultPolicy: String?
    /// Collector thresholds of every run (nil: Python's 700, 10, 10).
    public var thresholds: [Int]?
    /// Simulated NUMA nodes in each run's heap (nil: the machine's topology).
    public var numaNodes: Int?
    /// Pin each run's threads to CPUs.
    public var pinThreads = false
    /// Threads that share a large collection's walk of a run's heap (nil: the CPUs, at most 8;
    /// CollectorConfiguration.pauseWorkers).
    public var pauseWorkers: Int?
    /// Mutators that may validate batches in a concurrent collection's pause (nil: none;
    /// CollectorConfiguration.validationAssists).
    public var validationAssists: Int?
    /// Nice levels the stopper gains for each pause (nil: 10;
    /// CollectorConfiguration.pausePriorityBoost).
    public var pausePriorityBoost: Int?
    /// How collections find garbage in runs that name no mode and in the shared heap (nil:
    /// concurrent).
    public var collectionMode: CollectionMode?
    /// Striping of runs that name none (nil: adaptive; HeapCore's Striping.swift).
    public var striping: StripingMode?
    /// What the server's connections may hold (Server.swift), as in force: heapd lowers
    /// max_connections to its open-file limit before it makes the service.
    public var connections = ConnectionLimits()
    /// Where the daemon serves and keeps its state, and the group it lets in — for `config`
    /// alone (nil in process: none).
    public var socketPath: String?
    public var stateDirectory: String?
    public var allowGroup: String?
    /// `metrics_listen`, as written: shown by `config` (the daemon serves it, MetricsServer).
    public var metricsListen: String?

    public init() {}

    /// The collector of every run's heap and of the shared heap: the defaults, with the
    /// thresholds, pause workers, validation assists, pause priority boost and mode set here.
    var collector: CollectorConfiguration {
        var collector = CollectorConfiguration()
        if let thresholds {
            collector.thresholds = (thresholds[0], thresholds.count > 1 ? thresholds[1] : 10, thresholds.count > 2 ? thresholds[2] : 10)
        }
        if let pauseWorkers { collector.pauseWorkers = pauseWorkers }
        if let validationAssists { collector.validationAssists = validationAssists }
        if let pausePriorityBoost { collector.pausePriorityBoost = pausePriorityBoost }
        if let collectionMode { collector.mode = collectionMode }
        return collector
    }
}

/// `@unchecked Sendable`: mutable state is behind `stats`, `totals` and `runningHeapBytes`
/// (locks); the queue, the admission and the journal are thread-safe.
public final class Service: @unchecked Sendable {
    /// What a run's limits may be in a setting (requests are bounded by the settings' maximums
    /// too): heap limits in MiB, and time limits in seconds (a year). Anything outside is refused
    /// before a conversion could trap on it.
    public static let heapLimitRange = 1...(1 << 24)
    public static let maximumTimeLimitSeconds = 31_536_000.0
    /// Collector thresholds, in a request or a setting (as `gc.set_threshold` takes them).
    public static let thresholdRange = 0...Int(Int32.max)

    public let configuration: ServiceConfiguration
    let stats = Locked(ServiceStats())
    let runQueue = DispatchQueue(label: "heapd.runs", attributes: .concurrent)
    /// Which runs and exec pieces are taken, and when each executes.
    let admission: RunAdmission
    /// Every run admitted and not yet answered, for `stopRuns`.
    let active = ConnectionRuns()
    /// The daemon is stopping: no new runs or execs.
    private let draining = Atomic<Bool>(false)
    /// Totals of the runs that ended, and the heap bytes of those running (by ticket), for metrics.
    let totals = Locked(RunTotals())
    let runningHeapBytes = Locked<[Int: Int]>([:])
    /// The shell's sessions (`exec`).
    let sessions: SessionStore
    /// The shared heap's tracked objects per generation, for metrics.
    private let census = GenerationCensus()
    /// The long-lived heap that `"heap": "shared"` runs join and `gc` acts on.
    public let sharedHeap: SharedHeap
    /// Called by `shutdown` (the daemon stops accepting and exits once runs are done).
    private let onShutdown: @Sendable () -> Void
    /// Where finished runs are recorded (nil: nowhere, for tests of the protocol alone).
    public let journal: Journal?
    /// One line per run and per error.
    let logger: Logger

    public init(configuration: ServiceConfiguration = ServiceConfiguration(), journal: Journal? = nil,
                logger: Logger = Logger(label: "heapd", factory: { _ in SwiftLogNoOpLogHandler() }),
                sessionLimits: SessionLimits = SessionLimits(), onShutdown: @escaping @Sendable () -> Void = {}) {
        self.configuration = configuration
        sessions = SessionStore(limits: sessionLimits)
        self.journal = journal
        self.logger = logger
        self.onShutdown = onShutdown
        admission = RunAdmission(workers: configuration.workers, queueLimit: configuration.queueLimit)
        sharedHeap = SharedHeap(collector: configuration.collector, limitBytes: configuration.sharedHeapLimitMiB << 20)
    }

    public var statistics: ServiceStats { stats.withLock { $0 } }

    /// Handles one request line of `caller`; `reply` is called once per response, from any
    /// thread. Runs go to the pool and are registered with `cancellations` (the connection's), so
    /// that a client that goes away stops them.
    public func handle(line: String, cancellations: ConnectionRuns, caller: Caller = .daemonUser, reply: @escaping @Sendable (Response) -> Void) {
        stats.withLock { $0.requests += 1 }
        let request: Request
        do {
            request = try JSONDecoder().decode(Request.self, from: Data(line.utf8))
        } catch {
            let failure = Request.decodingFailure(error, line: line)
            return fail(reply, failure.id, failure.error)
        }
        // A member is told the bound that holds for it (the daemon's defaults) before the one
        // that holds for everyone (the maximums, Request+Validation.swift).
        if !caller.isOwner, let reason = memberRestriction(request) { return fail(reply, request.id, .forbidden, reason) }
        if let problem = request.rangeProblem(configuration, historyLimit: historyLimitRange) {
            return fail(reply, request.id, .badRequest, problem)
        }
        guard let op = Op(rawValue: request.op) else { return fail(reply, request.id, .unknownOp, Op.unknownMessage(request.op)) }
        let id = request.id
        switch op {
        case .ping:
            reply(Response(id: id, type: "pong"))
        case .version:
            var response = Response(id: id, type: "version")
            response.version = protocolVersion
            reply(response)
        case .stats:
            var response = Response(id: id, type: "stats")
            response.stats = statistics
            reply(response)
        case .run:
            guard !isDraining else { return refuseWhileDraining(reply, id) }
            run(request, cancellations: cancellations, reply: reply)
        case .cancel:
            guard let target = request.target else { return fail(reply, id, .badRequest, "cancel needs the target id of a run") }
            guard cancellations.cancel(target) else {
                return fail(reply, id, .badRequest, "no run with id \(target) is running on this connection")
            }
            reply(Response(id: id, type: "cancel"))
        case .metrics:
            var response = Response(id: id, type: "metrics")
            response.metrics = metricsText()
            reply(response)
        case .gc:
            gc(request, reply: reply)
        case .report:
            report(request, reply: reply)
        case .workloads:
            var response = Response(id: id, type: "workloads")
            response.workloads = libraryWorkloads()
            reply(response)
        case .config:
            var response = Response(id: id, type: "config")
            response.config = describedConfiguration
            reply(response)
        case .exec:
            exec(request, caller: caller, cancellations: cancellations, reply: reply)
        case .history:
            // From the journal's memory: the file is never read again. `limit` is in range
            // (Request+Validation.swift).
            var response = Response(id: id, type: "history")
            response.history = journal?.history(limit: request.limit ?? 20) ?? []
            reply(response)
        case .shutdown:
            // Before the answer: a run sent after `shutdown`, on any connection, is refused.
            draining.store(true, ordering: .sequentiallyConsistent)
            reply(Response(id: id, type: "shutdown"))
            onShutdown()
        }
    }

    /// The settings in force, by key as in the settings table (`config`).
    var describedConfiguration: [String: String] {
        [
            "workers": "\(configuration.workers)", "queue_limit": "\(configuration.queueLimit)",
            "max_request_bytes": "\(configuration.maxRequestBytes)", "workloads": configuration.workloadDirectory ?? "",
            "heap_limit_mib": "\(configuration.defaultHeapLimitMiB)", "time_limit_seconds": "\(configuration.defaultTimeLimitSeconds)",
            "max_heap_limit_mib": "\(configuration.maxHeapLimitMiB)", "max_time_limit_seconds": "\(configuration.maxTimeLimitSeconds)",
            "max_output_bytes": "\(configuration.maxOutputBytes)", "max_threads": "\(configuration.maxThreads)",
            "max_events": "\(configuration.maxEvents)", "shared_heap_limit_mib": "\(configuration.sharedHeapLimitMiB)",
            "rc": configuration.defaultPolicy ?? "biased",
            "thresholds": (configuration.thresholds ?? [700, 10, 10]).map(String.init).joined(separator: ", "),
            "numa_nodes": configuration.numaNodes.map(String.init) ?? "machine",
            "pause_workers": String(configuration.pauseWorkers ?? CollectorConfiguration().pauseWorkers),
            "collector": configuration.collector.mode.rawValue,
            "striping": (configuration.striping ?? .adaptive).rawValue,
            "pin_threads": "\(configuration.pinThreads)",
            "socket": configuration.socketPath ?? "",
            "state_directory": configuration.stateDirectory ?? "",
            "allow_group": configuration.allowGroup ?? "",
            "journal": journal?.path ?? "",
            "journal_max_bytes": journal.map { "\($0.limits.maxBytes)" } ?? "",
            "journal_segments": journal.map { "\($0.limits.segments)" } ?? "",
            "metrics_listen": configuration.metricsListen ?? "",
        ].merging(configuration.connections.described) { $1 }.merging(describedPauses) { $1 }
    }

    /// The pauses' settings in force (`describedConfiguration`).
    private var describedPauses: [String: String] {
        let collector = configuration.collector
        return ["validation_assists": "\(collector.validationAssists)", "pause_priority_boost": "\(collector.pausePriorityBoost)"]
    }

    /// Memory mapped now by the heaps of running runs and by the shared heap.
    public var heapBytesInUse: Int {
        runningHeapBytes.withLock { $0.values.reduce(0, +) } + sharedHeap.heap.allocator.mappedBytes
    }

    /// The metrics in Prometheus's text format (the `metrics` op, and `--metrics-listen`).
    public func metricsText() -> String {
        let heap = sharedHeap.heap
        let nodes = heap.allocator.statistics().nodes.map { node in
            (node: node.node, bytes: node.mappedBytes, objects: node.liveBlocks)
        }
        // Counting by generation stops the shared heap's world: the census does it rarely.
        let generations = census.counts(of: heap, liveBlocks: nodes.reduce(0) { $0 + $1.objects })
        return Metrics.text(stats: statistics, totals: totals.withLock { $0 }, heapBytes: runningHeapBytes.withLock { $0.values.reduce(0, +) },
                            sharedHeapNodes: nodes, sharedHeapGenerations: generations, sharedHeapCensuses: census.walks)
    }

    /// The daemon is stopping: refuses new runs and execs from now on (`shutting_down`), cancels
    /// every run and waits up to `grace` for them to end (each writes its journal line and
    /// answers its client). True when they all did.
    public func stopRuns(grace: Duration) -> Bool {
        // Sequentially consistent, with the load in `isDraining`: a run that passed that check
        // before this store is registered in `active` and cancelled by cancelAll, or registered
        // after it and cancelled as it is added.
        draining.store(true, ordering: .sequentiallyConsistent)
        active.cancelAll()
        let deadline = ContinuousClock.now + grace
        while active.count > 0 {
            if ContinuousClock.now >= deadline { return false }
            usleep(10_000)
        }
        return true
    }

    /// Whether the daemon is stopping (no new runs or execs).
    var isDraining: Bool { draining.load(ordering: .sequentiallyConsistent) }

    /// How many runs `history` may ask for: 1 to the ended runs the journal keeps in memory
    /// (JournalLimits.historyEntries, 1,000), which is all it can answer from.
    var historyLimitRange: ClosedRange<Int> { 1...(journal?.limits.historyEntries ?? JournalLimits().historyEntries) }

    func refuseWhileDraining(_ reply: (Response) -> Void, _ id: RequestID?) {
        fail(reply, id, .shuttingDown, "heapd is stopping and takes no new runs; send it again once heapd is back")
    }

    /// Answers a line longer than the limit.
    public func refuseOversizedLine(reply: @Sendable (Response) -> Void) {
        stats.withLock { $0.requests += 1 }
        fail(reply, nil, .requestTooLarge, "a request line is limited to \(configuration.maxRequestBytes) bytes")
    }

    func fail(_ reply: (Response) -> Void, _ id: RequestID?, _ code: ErrorCode, _ message: String) {
        stats.withLock { $0.errors += 1 }
        logger.notice("error \(code.rawValue): \(message.prefix { $0 != "\n" }.clippedForLog())")
        reply(.error(id, code, message))
    }

    func fail(_ reply: (Response) -> Void, _ id: RequestID?, _ error: CodedError) {
        fail(reply, id, error.code, error.message)
    }

    /// The library: each `.hw` file of the workloads directory with the first line of its header.
    private func libraryWorkloads() -> [String: String] {
        guard let directory = configuration.workloadDirectory,
              let files = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [:] }
        var library: [String: String] = [:]
        for file in files where file.hasSuffix(".hw") {
            let text = (try? String(contentsOfFile: directory + "/" + file, encoding: .utf8)) ?? ""
            let first = text.split(separator: "\n").first { $0.hasPrefix("#") }.map { $0.drop { $0 == "#" || $0 == " " } } ?? ""
            library[String(file.dropLast(3))] = String(first)
        }
        return library
    }

    /// The text of library workload `name` (a plain name: RunPlan checks it), or nil.
    func libraryText(_ name: String) -> String? {
        guard let directory = configuration.workloadDirectory else { return nil }
        return try? String(contentsOfFile: directory + "/" + name + ".hw", encoding: .utf8)
    }
}

extension StringProtocol {
    /// This text as a log line may hold it: at most `limit` characters, then how many bytes
    /// more there were. Whatever a client sent passes through here on its way to the log.
    func clippedForLog(_ limit: Int = 512) -> String {
        let kept = prefix(limit)
        guard kept.endIndex < endIndex else { return String(kept) }
        return kept + "… [\(self[kept.endIndex...].utf8.count) more bytes]"
    }
}
