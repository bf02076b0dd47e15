// Service: what heapd does with a request line, independent of the socket — decode, dispatch by
// `op`, run workloads on a bounded pool, and answer through a reply callback (any thread).
//
//   admission   at most `workers` runs execute at once and `queueLimit` more wait; beyond that a
//               run is refused with `busy` (the client may retry); an `exclusive` run waits for
//               every worker slot and holds them all while it runs
//               (`exec` pieces too: Service+Exec.swift)
//   cancellation  every run of a connection carries a RunCancellation; `cancelAll` (the
//               connection closed) stops them at their next poll, and their heaps are released
//               as every run's are; a run registered after it is cancelled at once
//   draining    once the daemon is stopping (`shutdown`, `stopRuns`), new runs and execs are
//               refused with `shutting_down`, on every connection
//   access      members of the allowed group are held to what Access.swift allows
//
// Every failure is an `error` response with a stable code; nothing throws out of `handle`.

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
    /// How collections find garbage in runs that name no mode and in the shared heap (nil:
    /// concurrent).
    public var collectionMode: CollectionMode?
    /// What the server's connections may hold (Server.swift).
    public var connections = ConnectionLimits()

    public init() {}

    /// The collector of every run's heap and of the shared heap: the defaults, with the
    /// thresholds, pause workers and mode set here.
    var collector: CollectorConfiguration {
        var collector = CollectorConfiguration()
        if let thresholds {
            collector.thresholds = (thresholds[0], thresholds.count > 1 ? thresholds[1] : 10, thresholds.count > 2 ? thresholds[2] : 10)
        }
        if let pauseWorkers { collector.pauseWorkers = pauseWorkers }
        if let collectionMode { collector.mode = collectionMode }
        return collector
    }
}

/// `@unchecked Sendable`: mutable state is behind `stats` and `slots` (locks); the queue and
/// the semaphore are thread-safe.
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
    let workerSlots: DispatchSemaphore
    /// Runs and execs admitted and not yet ended: at most `workers + queueLimit`.
    let admitted = Atomic<Int>(0)
    private let exclusiveEntry = Lock()
    /// Every run admitted and not yet answered, for `stopRuns`.
    let active = ConnectionRuns()
    /// The daemon is stopping: no new runs or execs.
    private let draining = Atomic<Bool>(false)
    /// Totals of the runs that ended, and the heap bytes of those running (by ticket), for metrics.
    private let totals = Locked(RunTotals())
    private let runningHeapBytes = Locked<[Int: Int]>([:])
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
        workerSlots = DispatchSemaphore(value: configuration.workers)
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
            return fail(reply, failure.id, failure.code, failure.message)
        }
        // A member is told the bound that holds for it (the daemon's defaults) before the one
        // that holds for everyone (the maximums, Request+Validation.swift).
        if !caller.isOwner, let reason = memberRestriction(request) { return fail(reply, request.id, "forbidden", reason) }
        if let problem = request.rangeProblem(configuration, historyLimit: historyLimitRange) {
            return fail(reply, request.id, "bad_request", problem)
        }
        switch request.op {
        case "ping":
            reply(Response(id: request.id, type: "pong"))
        case "version":
            var response = Response(id: request.id, type: "version")
            response.version = protocolVersion
            reply(response)
        case "stats":
            var response = Response(id: request.id, type: "stats")
            response.stats = statistics
            reply(response)
        case "run":
            guard !isDraining else { return refuseWhileDraining(reply, request.id) }
            run(request, cancellations: cancellations, reply: reply)
        case "cancel":
            guard let target = request.target else { return fail(reply, request.id, "bad_request", "cancel needs the target id of a run") }
            guard cancellations.cancel(target) else {
                return fail(reply, request.id, "bad_request", "no run with id \(target) is running on this connection")
            }
            reply(Response(id: request.id, type: "cancel"))
        case "metrics":
            var response = Response(id: request.id, type: "metrics")
            response.metrics = metricsText()
            reply(response)
        case "gc":
            gc(request, reply: reply)
        case "report":
            report(request, reply: reply)
        case "workloads":
            var response = Response(id: request.id, type: "workloads")
            response.workloads = libraryWorkloads()
            reply(response)
        case "config":
            var response = Response(id: request.id, type: "config")
            response.config = [
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
                "pin_threads": "\(configuration.pinThreads)",
                "journal": journal?.path ?? "",
                "journal_max_bytes": journal.map { "\($0.limits.maxBytes)" } ?? "",
                "journal_segments": journal.map { "\($0.limits.segments)" } ?? "",
            ].merging(configuration.connections.described) { $1 }
            reply(response)
        case "exec":
            exec(request, caller: caller, cancellations: cancellations, reply: reply)
        case "history":
            // From the journal's memory: the file is never read again. `limit` is in range
            // (Request+Validation.swift).
            var response = Response(id: request.id, type: "history")
            response.history = journal?.history(limit: request.limit ?? 20) ?? []
            reply(response)
        case "shutdown":
            // Before the answer: a run sent after `shutdown`, on any connection, is refused.
            draining.store(true, ordering: .sequentiallyConsistent)
            reply(Response(id: request.id, type: "shutdown"))
            onShutdown()
        default:
            fail(reply, request.id, "unknown_op", "unknown op '\(request.op)' (ops: ping, version, stats, metrics, config, workloads, run, exec, gc, report, cancel, history, shutdown)")
        }
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
        fail(reply, id, "shutting_down", "heapd is stopping and takes no new runs; send it again once heapd is back")
    }

    /// Answers a line longer than the limit.
    public func refuseOversizedLine(reply: @Sendable (Response) -> Void) {
        stats.withLock { $0.requests += 1 }
        fail(reply, nil, "request_too_large", "a request line is limited to \(configuration.maxRequestBytes) bytes")
    }

    func fail(_ reply: (Response) -> Void, _ id: RequestID?, _ code: String, _ message: String) {
        stats.withLock { $0.errors += 1 }
        logger.notice("error \(code): \(message.prefix { $0 != "\n" })")
        reply(.error(id, code, message))
    }

    // MARK: Runs

    private func run(_ request: Request, cancellations: ConnectionRuns, reply: @escaping @Sendable (Response) -> Void) {
        let id = request.id
        let source: String
        let fileName: String
        switch (request.source, request.workload) {
        case (let text?, nil):
            source = text
            fileName = request.fileName ?? "request.hw"
        case (nil, let name?):
            guard let directory = configuration.workloadDirectory,
                  name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }),
                  let text = try? String(contentsOfFile: directory + "/" + name + ".hw", encoding: .utf8) else {
                return fail(reply, id, "bad_request", "no library workload named '\(name)'")
            }
            source = text
            fileName = name + ".hw"
        default:
            return fail(reply, id, "bad_request", "a run needs exactly one of source and workload")
        }
        var runConfiguration = RunConfiguration()
        runConfiguration.collector = configuration.collector
        runConfiguration.simulatedNumaNodes = configuration.numaNodes
        runConfiguration.pinThreads = configuration.pinThreads
        if let rc = request.rc ?? configuration.defaultPolicy {
            guard let policy = RefCountPolicyKind(rawValue: rc) else {
                return fail(reply, id, "bad_request", "rc must be biased, atomic or global-lock, not '\(rc)'")
            }
            runConfiguration.policy = policy
        }
        if let name = request.collector {
            guard let mode = CollectionMode(rawValue: name) else {
                return fail(reply, id, "bad_request", "collector must be concurrent or stop-the-world, not '\(name)'")
            }
            runConfiguration.collector.mode = mode
        }
        switch request.heap ?? "fresh" {
        case "fresh": break
        case "shared": runConfiguration.sharedHeap = sharedHeap
        default: return fail(reply, id, "bad_request", "heap is fresh or shared, not '\(request.heap!)'")
        }
        runConfiguration.params = request.params ?? [:]
        if let threads = request.threads { runConfiguration.params["threads"] = Int64(threads) }
        if request.gc == false {
            // No collector thread, in the mode asked for.
            let mode = runConfiguration.collector.mode
            runConfiguration.collector = .manual
            runConfiguration.collector.mode = mode
        }
        runConfiguration.seed = request.seed ?? 1
        runConfiguration.traceAllocations = request.trace ?? false
        runConfiguration.memoryReport = request.memoryReport ?? false
        // The limits are in range (Request+Validation.swift): these conversions cannot trap.
        runConfiguration.heapLimitBytes = (request.heapLimitMiB ?? configuration.defaultHeapLimitMiB) << 20
        runConfiguration.timeLimit = .milliseconds(Int((request.timeLimitSeconds ?? configuration.defaultTimeLimitSeconds) * 1000))
        runConfiguration.maxOutputBytes = configuration.maxOutputBytes
        runConfiguration.maxThreads = configuration.maxThreads
        if request.stream == true {
            runConfiguration.output = { line in
                var event = Response(id: id, type: "output")
                event.line = line
                reply(event)
            }
        }
        let stream = request.stream == true
        let events = EventBudget(limit: configuration.maxEvents)
        if stream {
            runConfiguration.phaseEnded = { name, seconds in
                guard events.take() else { return }
                var event = Response(id: id, type: "phase")
                event.phase = name
                event.seconds = seconds
                reply(event)
            }
            runConfiguration.collected = { result in
                guard events.take() else { return }
                var event = Response(id: id, type: "gc")
                event.collection = CollectionEvent(generation: result.generation, reason: result.reason.rawValue, mode: result.mode.rawValue,
                                                   candidates: result.candidates, collected: result.collected,
                                                   pauseMilliseconds: Double(result.pauseNanoseconds) / 1e6,
                                                   safepointMilliseconds: Double(result.handshakeNanoseconds) / 1e6,
                                                   concurrentMilliseconds: Double(result.concurrentNanoseconds) / 1e6,
                                                   tentative: result.tentative, validated: result.validated, dropped: result.dropped)
                reply(event)
            }
        }
        let checked: CheckedProgram
        switch Service.parse(source, fileName: fileName) {
        case .success(let program): checked = program
        case .failure(let diagnostics):
            let syntax = diagnostics.diagnostics.contains { $0.code.rawValue.hasPrefix("E1") || $0.code.rawValue.hasPrefix("E2") }
            return fail(reply, id, syntax ? "parse_error" : "check_error", diagnostics.rendered())
        }
        // params that the program does not declare, or that do not fit its constants: refused
        // before the run is admitted.
        if let diagnostics = Service.paramProblem(checked, runConfiguration.params) {
            return fail(reply, id, "bad_request", diagnostics.rendered())
        }
        // Admission: workers running plus the queue's bound.
        guard admitted.wrappingAdd(1, ordering: .relaxed).newValue <= configuration.workers + configuration.queueLimit else {
            admitted.wrappingSubtract(1, ordering: .relaxed)
            return fail(reply, id, "busy", "\(configuration.workers) runs are running and \(configuration.queueLimit) waiting; try again later")
        }
        // A run the journal cannot record is not run.
        let runNumber: Int?
        do throws(JournalError) {
            runNumber = try journal?.start(file: fileName, policy: runConfiguration.policy.rawValue, params: runConfiguration.params)
        } catch {
            admitted.wrappingSubtract(1, ordering: .relaxed)
            return fail(reply, id, "not_recorded", "the run was not started: \(error)")
        }
        let cancellation = RunCancellation()
        runConfiguration.cancellation = cancellation
        // A detached run is not the connection's: it goes on if the client leaves.
        let owner = request.detach == true ? ConnectionRuns() : cancellations
        let ticket = owner.add(cancellation, id: id)
        let activeTicket = active.add(cancellation, id: id)
        // Progress feeds the metrics' heap gauge always, and the client when it streams.
        runConfiguration.progress = { [runningHeapBytes] progress in
            runningHeapBytes.withLock { $0[activeTicket] = progress.heapBytes }
            guard stream else { return }
            var event = Response(id: id, type: "progress")
            event.progress = progress
            reply(event)
        }
        stats.withLock { $0.runsStarted += 1 }
        let runConfigurationReady = runConfiguration
        let exclusive = request.exclusive == true
        runQueue.async { [self] in
            let runConfiguration = runConfigurationReady
            let (outcome, slots) = executeInWorkerSlots(checked, runConfiguration, exclusive: exclusive)
            owner.remove(ticket)
            var entry = JournalEntry(kind: "finished", run: runNumber ?? 0, time: Date().timeIntervalSince1970, file: fileName,
                                     policy: runConfiguration.policy.rawValue, params: runConfiguration.params, version: protocolVersion)
            var response: Response
            switch outcome {
            case .failure(let diagnostics):
                response = .error(id, "bad_request", diagnostics.rendered())
                entry.ok = false
                entry.code = "bad_request"
                stats.withLock { $0.errors += 1; $0.runsFailed += 1 }
            case .success(let result):
                stats.withLock { if result.ok { $0.runsFinished += 1 } else { $0.runsFailed += 1 } }
                if let error = result.error {
                    response = .error(id, Service.code(for: error.code), error.description)
                    if Service.code(for: error.code) == "run_error" { response.detail = error.code.rawValue }
                    stats.withLock { $0.errors += 1 }
                    entry.code = error.code.rawValue
                    entry.message = error.message
                } else {
                    response = Response(id: id, type: "result")
                }
                response.result = result
                totals.withLock { $0.add(result) }
                entry.noteEnd(of: result)
            }
            // On disk before the client hears of it, and before the worker slots go back: a run
            // waiting for them (an exclusive one) is journalled as finishing after this one.
            if let runNumber { recordFinished(entry, of: "run \(runNumber)", in: &response) }
            for _ in 0..<slots { workerSlots.signal() }
            logger.info("run \(runNumber ?? 0) \(fileName) \(entry.policy ?? "") \(entry.ok == true ? "ok" : entry.code ?? "failed") \(String(format: "%.3f", entry.wallSeconds ?? 0)) s")
            response.run = runNumber
            if events.dropped > 0 { response.droppedEvents = events.dropped }
            reply(response)
            active.remove(activeTicket)
            _ = runningHeapBytes.withLock { $0.removeValue(forKey: activeTicket) }
        }
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

    // MARK: The shared heap's collector

    private func gc(_ request: Request, reply: @escaping @Sendable (Response) -> Void) {
        let id = request.id
        let action = request.action ?? "status"
        guard ["collect", "enable", "disable", "threshold", "collector", "freeze", "unfreeze", "status"].contains(action) else {
            return fail(reply, id, "bad_request", "gc action is collect, enable, disable, threshold, collector, freeze, unfreeze or status, not '\(action)'")
        }
        // generation and thresholds are in range (Request+Validation.swift).
        if action == "threshold" && request.thresholds == nil {
            return fail(reply, id, "bad_request", "threshold needs thresholds: one to three integers from 0 to \(Service.thresholdRange.upperBound)")
        }
        let mode = request.collector.flatMap(CollectionMode.init(rawValue:))
        if action == "collector" && mode == nil {
            return fail(reply, id, "bad_request", "collector needs collector: concurrent or stop-the-world, not '\(request.collector ?? "")'")
        }
        let heap = sharedHeap.heap
        // On a thread of the pool: collecting and freezing stop the world, as a mutator of the heap.
        runQueue.async {
            heap.attachCurrentThread()
            var collected: Int?, moved: Int?
            switch action {
            case "collect": collected = heap.collect(generation: request.generation ?? 2).collected
            case "enable": heap.setAutomaticCollection(enabled: true)
            case "disable": heap.setAutomaticCollection(enabled: false)
            case "threshold":
                let values = request.thresholds!
                heap.setThresholds(values[0], values.count > 1 ? values[1] : nil, values.count > 2 ? values[2] : nil)
            case "collector": heap.collectionMode = mode!
            case "freeze": moved = heap.freeze()
            case "unfreeze": moved = heap.unfreeze()
            default: break
            }
            let count = heap.count, thresholds = heap.thresholds
            let status = SharedHeapStatus(enabled: heap.isAutomaticCollectionEnabled, collector: heap.collectionMode.rawValue,
                                          count: [count.0, count.1, count.2],
                                          thresholds: [thresholds.0, thresholds.1, thresholds.2],
                                          collections: heap.generationStats.map(\.collections), frozen: heap.freezeCount,
                                          mappedBytes: heap.allocator.mappedBytes, collected: collected, moved: moved)
            heap.detachCurrentThread()
            var response = Response(id: id, type: "gc")
            response.gc = status
            reply(response)
        }
    }

    /// `report`: the shared heap's memory report, after turning its tracing on or off when
    /// `trace` says so. On a thread of the pool: the census stops the world, as a mutator.
    private func report(_ request: Request, reply: @escaping @Sendable (Response) -> Void) {
        let shared = sharedHeap
        runQueue.async {
            if let trace = request.trace { shared.setTracing(trace) }
            var response = Response(id: request.id, type: "report")
            response.memoryReport = shared.memoryReport()
            reply(response)
        }
    }

    /// One worker slot, or all of them for an exclusive run (exclusive runs take theirs one
    /// at a time, under a lock, so that two of them cannot each hold half the pool).
    /// Takes a worker slot (all of them when `exclusive`), runs `checked` in it and keeps the
    /// counts. The slots go back (`workerSlots.signal()`) once the end is journalled.
    func executeInWorkerSlots(_ checked: CheckedProgram, _ configuration: RunConfiguration,
                              exclusive: Bool) -> (Result<RunResult, DiagnosticList>, slots: Int) {
        let slots = takeWorkerSlots(exclusive: exclusive)
        stats.withLock { $0.runsRunning += 1 }
        let outcome = Service.execute(checked, configuration)
        stats.withLock { $0.runsRunning -= 1 }
        admitted.wrappingSubtract(1, ordering: .relaxed)
        return (outcome, slots)
    }

    /// Journals a run's or an exec's end, and tells its client whether it is on disk
    /// (`recorded`, and `journalError` when it is not).
    func recordFinished(_ entry: JournalEntry, of what: String, in response: inout Response) {
        guard let journal else { return }
        do throws(JournalError) {
            try journal.finish(entry)
            response.recorded = true
        } catch {
            response.recorded = false
            response.journalError = error.description
            logger.error("\(what) was not recorded: \(error)")
        }
    }

    func takeWorkerSlots(exclusive: Bool) -> Int {
        guard exclusive else {
            workerSlots.wait()
            return 1
        }
        exclusiveEntry.withLock { for _ in 0..<configuration.workers { workerSlots.wait() } }
        return configuration.workers
    }

    static func code(for code: RunErrorCode) -> String {
        switch code {
        case .expectFailed: "expect_failed"
        case .heapLimit: "heap_limit"
        case .timeLimit: "time_limit"
        case .cancelled: "cancelled"
        default: "run_error"
        }
    }

    static func parse(_ source: String, fileName: String) -> Result<CheckedProgram, DiagnosticList> {
        do throws(DiagnosticList) {
            return .success(try Program.parse(source: source, fileName: fileName))
        } catch {
            return .failure(error)
        }
    }

    private static func paramProblem(_ checked: CheckedProgram, _ params: [String: Int64]) -> DiagnosticList? {
        do throws(DiagnosticList) {
            _ = try checked.constants(overrides: params)
            return nil
        } catch {
            return error
        }
    }

    static func execute(_ checked: CheckedProgram, _ configuration: RunConfiguration) -> Result<RunResult, DiagnosticList> {
        do throws(DiagnosticList) {
            return .success(try Workload.run(checked, configuration: configuration))
        } catch {
            return .failure(error)
        }
    }
}

/// The runs a connection started, so that they stop when it closes, or when it asks (`cancel`).
/// Once `cancelAll` has been called the set is closed: a run added later is cancelled as it is
/// added (its request was still being handled when the connection went away).
public final class ConnectionRuns: Sendable {
    private struct Runs {
        var byTicket: [Int: (id: RequestID?, cancellation: RunCancellation)] = [:]
        var closed = false
    }
    private let runs = Locked(Runs())
    private let next = Atomic<Int>(0)

    public init() {}

    func add(_ cancellation: RunCancellation, id: RequestID?) -> Int {
        let ticket = next.wrappingAdd(1, ordering: .relaxed).newValue
        let closed = runs.withLock { runs in
            runs.byTicket[ticket] = (id, cancellation)
            return runs.closed
        }
        if closed { cancellation.cancel() }
        return ticket
    }

    func remove(_ ticket: Int) {
        _ = runs.withLock { $0.byTicket.removeValue(forKey: ticket) }
    }

    /// Cancels the running run whose request had id `id`; false when there is none.
    func cancel(_ id: RequestID) -> Bool {
        let matching = runs.withLock { $0.byTicket.values.filter { $0.id == id }.map(\.cancellation) }
        for cancellation in matching { cancellation.cancel() }
        return !matching.isEmpty
    }

    /// The client went away (or the daemon is stopping): every run it started stops at its next
    /// poll, and so does every run added from now on.
    public func cancelAll() {
        let running = runs.withLock { runs in
            runs.closed = true
            return Array(runs.byTicket.values)
        }
        for run in running { run.cancellation.cancel() }
    }

    public var count: Int { runs.withLock { $0.byTicket.count } }
}

extension JournalEntry {
    /// A finished line's figures from the run's result.
    mutating func noteEnd(of result: RunResult) {
        ok = result.ok
        wallSeconds = result.wallSeconds
        allocations = result.allocations
        collections = result.collector.collections.reduce(0, +)
    }
}
