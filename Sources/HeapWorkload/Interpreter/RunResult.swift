// RunConfiguration and RunResult: what a run is asked to do and what it reports.

import HeapCore
import Synchronization

/// How to run a workload.
public struct RunConfiguration: Sendable {
    /// `--param name=value` overrides.
    public var params: [String: Int64] = [:]
    public var policy: RefCountPolicyKind = .biased
    /// Whether hot shared objects get per-thread counts (biased counting only; HeapCore's
    /// Striping.swift). A shared heap's own setting applies instead.
    public var striping: StripingMode = .adaptive
    /// Seed of `rand` (each thread's generator is derived from it and the thread's number).
    public var seed: UInt64 = 1
    /// Most memory the run's heap may map, its channels and its threads' stacks included
    /// (OffHeapMemory.swift); past it the run fails with run.heap-limit. Nil: no bound.
    public var heapLimitBytes: Int? = 4 << 30
    /// Deepest call nesting per thread.
    public var maxCallDepth = 100_000
    /// Registers per thread (8 bytes each; untouched pages cost nothing).
    public var registerStackWords = 1 << 22
    /// Loop iterations plus calls per thread (nil: no bound).
    public var maxSteps: Int?
    /// Wall-clock bound of the whole run (nil: none).
    public var timeLimit: Duration?
    /// Threads a run may spawn in all (past them: run.thread-limit).
    public var maxThreads = 256
    /// Channels a run may make in all (past them: run.bad-argument).
    public var maxChannels = 1 << 16
    public var maxArrayLength = 1 << 26
    /// Bytes of output kept and streamed (each line's UTF-8 bytes and its newline); past them a
    /// marker line, and later lines are only counted (RunResult.droppedOutputLines).
    public var maxOutputBytes = 1 << 20
    /// The run's heap's collector: thresholds, pause workers, and `mode` (concurrent, the
    /// default, or stop-the-world).
    public var collector = CollectorConfiguration()
    /// Split the machine's CPUs into this many virtual NUMA nodes for the run's heap (nil: the
    /// real topology).
    public var simulatedNumaNodes: Int?
    /// Pin the run's threads to CPUs, round-robin (main to the first).
    public var pinThreads = false
    /// Join this long-lived heap instead of making one (its policy and collector settings apply;
    /// `policy`, `collector`, `heapLimitBytes` and `simulatedNumaNodes` do not).
    public var sharedHeap: SharedHeap?
    /// Called with each line the program prints, as it prints it (any thread).
    public var output: (@Sendable (String) -> Void)?
    /// Cancels the run from outside (a client that went away): threads stop at their next poll.
    public var cancellation: RunCancellation?
    /// Called when a thread ends a `phase` (name, seconds) — from that thread.
    public var phaseEnded: (@Sendable (String, Double) -> Void)?
    /// Called after each collection of the run's heap — from the collecting thread.
    public var collected: (@Sendable (CollectionResult) -> Void)?
    /// Called about every `progressInterval` while the run goes on (from a timer thread).
    public var progress: (@Sendable (RunProgress) -> Void)?
    public var progressInterval: Duration = .milliseconds(250)
    /// Record where each object is made (allocation-site tracing) from the run's start; in a
    /// shared heap, this turns the shared heap's tracing on (`gc.trace` turns it off).
    public var traceAllocations = false
    /// Gather a memory report (RunResult.memoryReport): `snapshot` statements, the end's census
    /// with leaks and their chains, fragmentation, a timeline sampled every `timelineInterval`.
    public var memoryReport = false
    public var timelineInterval: Duration = .milliseconds(20)

    public init() {}
}

/// A run's figures while it goes on.
public struct RunProgress: Sendable, Codable, Equatable {
    public var elapsedSeconds: Double
    /// Objects made so far (threads report theirs at their safepoint polls).
    public var allocations: Int
    /// Since the previous report.
    public var allocationsPerSecond: Double
    /// Memory the run's heap has mapped now.
    public var heapBytes: Int
    public var collections: Int
}

/// A flag another thread raises to stop a run (`run.cancelled`).
public final class RunCancellation: Sendable {
    private let flag = Atomic<Bool>(false)
    public init() {}
    public func cancel() { flag.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { flag.load(ordering: .relaxed) }
}

/// What a run reports (also its JSON, for `heapctl run --json` and the daemon).
public struct RunResult: Sendable, Codable {
    public struct Phase: Sendable, Codable, Equatable {
        public var name: String
        /// Summed over the threads that ran it.
        public var seconds: Double
        public var allocations: Int
        public var runs: Int
    }

    public struct Expectation: Sendable, Codable, Equatable {
        public var line: Int
        public var column: Int
        public var condition: String
        public var passed: Int
        public var failed: Int
    }

    public struct ThreadReport: Sendable, Codable, Equatable {
        public var name: String
        public var operations: Int
        public var seconds: Double
        public var operationsPerSecond: Double
    }

    public struct Collector: Sendable, Codable, Equatable {
        /// How the heap's collections found their garbage: `concurrent` or `stop-the-world`
        /// (CollectionMode).
        public var mode: String
        public var collections: [Int]
        public var collected: [Int]
        public var uncollectable: [Int]
        public var automaticCollections: Int
        public var pauseP50Milliseconds: Double
        public var pauseP99Milliseconds: Double
        public var pauseMaxMilliseconds: Double
        public var totalPauseMilliseconds: Double
        /// Pauses counted by upper bound (`pauseBucketBounds`, nanoseconds; the last is +Inf),
        /// cumulative as Prometheus histograms are.
        public var pauseBuckets: [Int]
        /// Time in concurrent phases (walk and trial deletion with the world running), summed.
        public var totalConcurrentMilliseconds: Double
        /// CPU time of the collecting threads, summed over the collections.
        public var collectorCPUMilliseconds: Double
        /// Garbage the concurrent phases found tentatively, what the pauses validated of it, and
        /// what they dropped as live or gone: dropped = tentative - validated.
        public var tentative: Int
        public var validated: Int
        public var dropped: Int
        /// Time to safepoint (a pause's request until every mutator had stopped), per pause.
        public var safepointP50Milliseconds: Double
        public var safepointP99Milliseconds: Double
        public var safepointMaxMilliseconds: Double
        /// The pause each mutator saw, from parking at a safepoint to running again.
        public var mutatorPauseP50Milliseconds: Double
        public var mutatorPauseP99Milliseconds: Double
        public var mutatorPauseMaxMilliseconds: Double
        /// Whether the pauses ran with the collecting thread's priority raised: `raised`,
        /// `refused` (the system did not allow it) or `off` (HeapCore's PausePriority.swift).
        public var pausePriority: String
    }

    /// Upper bounds of `Collector.pauseBuckets` in nanoseconds: 10 µs to 1 s by decades.
    public static let pauseBucketBounds: [UInt64] = [10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000]

    public var file: String
    public var policy: String
    public var ok: Bool
    public var error: RunError?
    public var output: [String]
    public var wallSeconds: Double
    public var phases: [Phase]
    /// Objects made by the program (including weak references).
    public var allocations: Int
    /// Objects freed while the program ran (those still alive when main ended were not).
    public var frees: Int
    public var bytesAllocated: Int
    /// Objects still alive when the program ended, before the run released its references.
    public var liveAtEnd: Int
    /// Objects still alive after the run released everything and collected: 0 unless heapd leaks.
    public var leaked: Int
    /// What the heap verifier found wrong at the end of the run (empty unless heapd is wrong).
    public var heapProblems: [String]
    public var collector: Collector
    /// The process's peak resident memory (getrusage: in a long-lived daemon, the largest so far).
    public var peakRSSBytes: Int
    /// The most memory the run's heap had mapped at once (its own figure, daemon or not; in a
    /// shared heap, the shared heap's).
    public var peakHeapBytes: Int
    public var threads: [ThreadReport]
    public var expects: [Expectation]
    /// Errors raised inside finalizers and weak-reference callbacks, which do not fail the run
    /// (CPython's "Exception ignored in"); at most the first 100, of `warningCount`.
    public var warnings: [RunError] = []
    public var warningCount = 0
    /// Lines printed after the output reached RunConfiguration.maxOutputBytes (nil: none): they
    /// were neither kept nor streamed, and `output` ends with a marker line saying so.
    public var droppedOutputLines: Int?
    /// The heap's striping mode, and the objects striped while the run ran (in a shared heap,
    /// the shared heap's since the run began). Nil in results journaled before striping existed.
    public var striping: String?
    public var stripedObjects: Int?
    /// The memory diagnostics (RunConfiguration.memoryReport; nil when not asked for).
    public var memoryReport: MemoryReport?

    /// Of `output`, the lines the program printed: all of it, or all but the marker.
    public var keptOutputLines: Int { output.count - (droppedOutputLines == nil ? 0 : 1) }

    /// The lines the program printed, kept or dropped.
    public var printedLines: Int { keptOutputLines + (droppedOutputLines ?? 0) }
}

// MARK: Decoding what an older heapd sends

// A result from a heapd of protocol 2 lacks what results gained since: the peak heap, warnings,
// the dropped output; the collector's mode, pause buckets, concurrent figures and the
// handshake's. Those decode as absent — 0, empty, "" — instead of failing the whole answer, so a
// newer heapctl still reads it. What protocol 2 had is required as before.

extension RunResult {
    public init(from decoder: any Decoder) throws {
        let fields = try decoder.container(keyedBy: CodingKeys.self)
        file = try fields.decode(String.self, forKey: .file)
        policy = try fields.decode(String.self, forKey: .policy)
        ok = try fields.decode(Bool.self, forKey: .ok)
        error = try fields.decodeIfPresent(RunError.self, forKey: .error)
        output = try fields.decode([String].self, forKey: .output)
        wallSeconds = try fields.decode(Double.self, forKey: .wallSeconds)
        phases = try fields.decode([Phase].self, forKey: .phases)
        allocations = try fields.decode(Int.self, forKey: .allocations)
        frees = try fields.decode(Int.self, forKey: .frees)
        bytesAllocated = try fields.decode(Int.self, forKey: .bytesAllocated)
        liveAtEnd = try fields.decode(Int.self, forKey: .liveAtEnd)
        leaked = try fields.decode(Int.self, forKey: .leaked)
        heapProblems = try fields.decode([String].self, forKey: .heapProblems)
        collector = try fields.decode(Collector.self, forKey: .collector)
        peakRSSBytes = try fields.decode(Int.self, forKey: .peakRSSBytes)
        peakHeapBytes = try fields.decodeIfPresent(Int.self, forKey: .peakHeapBytes) ?? 0
        threads = try fields.decode([ThreadReport].self, forKey: .threads)
        expects = try fields.decode([Expectation].self, forKey: .expects)
        warnings = try fields.decodeIfPresent([RunError].self, forKey: .warnings) ?? []
        warningCount = try fields.decodeIfPresent(Int.self, forKey: .warningCount) ?? 0
        droppedOutputLines = try fields.decodeIfPresent(Int.self, forKey: .droppedOutputLines)
        striping = try fields.decodeIfPresent(String.self, forKey: .striping)
        stripedObjects = try fields.decodeIfPresent(Int.self, forKey: .stripedObjects)
        memoryReport = try fields.decodeIfPresent(MemoryReport.self, forKey: .memoryReport)
    }
}

extension RunResult.Collector {
    public init(from decoder: any Decoder) throws {
        let fields = try decoder.container(keyedBy: CodingKeys.self)
        func since2<T: Decodable>(_ key: CodingKeys, _ absent: T) throws -> T {
            try fields.decodeIfPresent(T.self, forKey: key) ?? absent
        }
        mode = try since2(.mode, "")
        collections = try fields.decode([Int].self, forKey: .collections)
        collected = try fields.decode([Int].self, forKey: .collected)
        uncollectable = try fields.decode([Int].self, forKey: .uncollectable)
        automaticCollections = try fields.decode(Int.self, forKey: .automaticCollections)
        pauseP50Milliseconds = try fields.decode(Double.self, forKey: .pauseP50Milliseconds)
        pauseP99Milliseconds = try fields.decode(Double.self, forKey: .pauseP99Milliseconds)
        pauseMaxMilliseconds = try fields.decode(Double.self, forKey: .pauseMaxMilliseconds)
        totalPauseMilliseconds = try fields.decode(Double.self, forKey: .totalPauseMilliseconds)
        pauseBuckets = try since2(.pauseBuckets, [])
        totalConcurrentMilliseconds = try since2(.totalConcurrentMilliseconds, 0)
        collectorCPUMilliseconds = try since2(.collectorCPUMilliseconds, 0)
        tentative = try since2(.tentative, 0)
        validated = try since2(.validated, 0)
        dropped = try since2(.dropped, 0)
        safepointP50Milliseconds = try since2(.safepointP50Milliseconds, 0)
        safepointP99Milliseconds = try since2(.safepointP99Milliseconds, 0)
        safepointMaxMilliseconds = try since2(.safepointMaxMilliseconds, 0)
        mutatorPauseP50Milliseconds = try since2(.mutatorPauseP50Milliseconds, 0)
        mutatorPauseP99Milliseconds = try since2(.mutatorPauseP99Milliseconds, 0)
        mutatorPauseMaxMilliseconds = try since2(.mutatorPauseMaxMilliseconds, 0)
        // Records from before the boost existed ran their pauses at the thread's own priority.
        pausePriority = try since2(.pausePriority, "off")
    }
}
