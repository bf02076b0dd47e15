// Protocol: heapd's requests and responses — newline-delimited JSON, one object per line.
//
//   request   {"id": 1, "op": "run", "source": "...", "params": {"depth": 10}, "rc": "atomic",
//              "collector": "stop-the-world", "stream": true}
//   responses {"id": 1, "type": "output", "line": "..."}        (streamed runs only)
//             {"id": 1, "type": "progress", "progress": {...}}  (streamed runs, about every 250 ms)
//             {"id": 1, "type": "phase", "phase": "churn", "seconds": 0.3}, {"id": 1, "type": "gc", "collection": {...}}
//             {"id": 1, "type": "result", "result": {...}}      (exactly one result or error ends a run)
//             {"id": 1, "type": "error", "code": "parse_error", "message": "..."}
//
// Ops and error codes are enums (Op, ErrorCode): the service's dispatch switches over Op, and the
// unknown-op message lists its cases. On the wire both stay strings: a request's `op` is decoded
// as one (an unknown op is answered `unknown_op` with the request's id), and a response's `code`
// too, so that a client reads codes newer than itself. Error codes are stable
// (docs/protocol.md lists them).

import HeapWorkload

/// The ops, in the order the unknown-op message lists them.
public enum Op: String, CaseIterable, Sendable {
    case ping, version, stats, metrics, config, workloads, run, exec, gc, report, cancel, history, shutdown

    /// The answer to an op that is none of these.
    static func unknownMessage(_ op: String) -> String {
        "unknown op '\(op)' (ops: \(allCases.map(\.rawValue).joined(separator: ", ")))"
    }
}

/// The stable error codes.
public enum ErrorCode: String, CaseIterable, Sendable {
    /// The line is not a JSON object with a string `op`.
    case badJSON = "bad_json"
    case unknownOp = "unknown_op"
    case requestTooLarge = "request_too_large"
    /// A field of the wrong type or out of its range, or a request its op refuses.
    case badRequest = "bad_request"
    case parseError = "parse_error"
    case checkError = "check_error"
    case expectFailed = "expect_failed"
    case heapLimit = "heap_limit"
    case timeLimit = "time_limit"
    case cancelled
    /// Any other run-time error; `detail` has the run's own code.
    case runError = "run_error"
    case busy
    case shuttingDown = "shutting_down"
    case notRecorded = "not_recorded"
    case forbidden
    case tooManyConnections = "too_many_connections"
    case idleTimeout = "idle_timeout"
    case `internal`

    /// The code a run that failed with `code` is answered with.
    init(runError code: RunErrorCode) {
        switch code {
        case .expectFailed: self = .expectFailed
        case .heapLimit: self = .heapLimit
        case .timeLimit: self = .timeLimit
        case .cancelled: self = .cancelled
        default: self = .runError
        }
    }
}

/// A request refused before it ran: the code and the message of its `error` response.
struct CodedError: Error, Equatable {
    var code: ErrorCode
    var message: String

    init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// A request's id, echoed in every response to it: a number or a string.
public enum RequestID: Codable, Sendable, Equatable {
    case number(Int)
    case string(String)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int.self) { self = .number(number) } else { self = .string(try container.decode(String.self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let number): try container.encode(number)
        case .string(let string): try container.encode(string)
        }
    }
}

/// One request line.
public struct Request: Codable, Sendable {
    public var id: RequestID?
    public var op: String
    /// `run`: the program's text, or `workload`: the name of a library workload (`binary-trees`).
    public var source: String?
    public var workload: String?
    /// The file name diagnostics and results show (default `request.hw`).
    public var fileName: String?
    public var params: [String: Int64]?
    /// `biased`, `atomic` or `global-lock`.
    public var rc: String?
    /// `run`: how collections find garbage, `concurrent` or `stop-the-world` (CollectionMode);
    /// `gc` with action `collector`: the shared heap's new mode.
    public var collector: String?
    /// `run`: `adaptive` (hot shared objects get per-thread counts; the default) or `off`.
    public var striping: String?
    public var seed: UInt64?
    public var heapLimitMiB: Int?
    public var timeLimitSeconds: Double?
    /// Send the program's output as `output` events while it runs (otherwise only in the result),
    /// with `progress`, `phase` and `gc` events.
    public var stream: Bool?
    /// Sets the program's `threads` param.
    public var threads: Int?
    /// Keep running if this connection closes (the result goes to the journal).
    public var detach: Bool?
    /// false: no automatic collection (the collector thread is not started; gc.collect() works).
    public var gc: Bool?
    /// Wait until no other run is running, and keep the pool to itself (for clean benchmarks).
    public var exclusive: Bool?
    /// `cancel`: the id of the run request to cancel (a run of this connection).
    public var target: RequestID?
    /// `history`: how many of the latest runs (default 20).
    public var limit: Int?
    /// `run`: `fresh` (default: a heap of its own) or `shared` (the daemon's long-lived heap).
    public var heap: String?
    /// `gc`: `collect`, `enable`, `disable`, `threshold`, `collector`, `freeze`, `unfreeze` or
    /// `status`, on the shared heap; `generation` for collect, `thresholds` for threshold,
    /// `collector` for collector.
    public var action: String?
    public var generation: Int?
    public var thresholds: [Int]?
    /// `exec`: the session's name; with `reset`, forget it instead.
    public var session: String?
    public var reset: Bool?
    /// `run`: record allocation sites from the start (in the shared heap: the heap's tracing on);
    /// `report`: turn the shared heap's tracing on or off before the report.
    public var trace: Bool?
    /// `run`: put a memory report in the result (RunResult.memoryReport).
    public var memoryReport: Bool?

    public init(id: RequestID?, op: String) {
        self.id = id
        self.op = op
    }
}

/// The daemon's counters (`stats`).
public struct ServiceStats: Codable, Sendable, Equatable {
    public var requests = 0
    public var runsStarted = 0
    public var runsFinished = 0
    public var runsFailed = 0
    public var runsRunning = 0
    public var errors = 0

    public init() {}
}

/// One response line.
public struct Response: Codable, Sendable {
    public var id: RequestID?
    /// `pong`, `version`, `stats`, `output`, `result` or `error`.
    public var type: String
    public var line: String?
    public var result: RunResult?
    public var code: String?
    /// For `run_error`: the run's own error code (`run.index-out-of-range`, ...).
    public var detail: String?
    public var message: String?
    public var version: String?
    public var stats: ServiceStats?
    /// `history`: the latest runs, newest last.
    public var history: [JournalEntry]?
    /// The run's number in the journal (results and run errors).
    public var run: Int?
    /// Results and run errors: whether the run's `finished` line is in the journal (false: its
    /// write or fsync failed, `journalError` says how; the run is recorded as interrupted at
    /// heapd's next start). Absent without a journal.
    public var recorded: Bool?
    public var journalError: String?
    /// The last response of a streamed run: `phase` and `gc` events not sent, past the daemon's
    /// max_events (nil: none).
    public var droppedEvents: Int?
    /// `progress` events of streamed runs (about every 250 ms).
    public var progress: RunProgress?
    /// `phase` events: the phase that ended and its time.
    public var phase: String?
    public var seconds: Double?
    /// `gc` events of a streamed run: one collection of its heap.
    public var collection: CollectionEvent?
    /// `metrics`: Prometheus text exposition.
    public var metrics: String?
    /// `exec`: what the new piece printed (ending with the marker line when some of it was
    /// dropped past max_output_bytes).
    public var lines: [String]?
    /// `exec`: lines the new piece printed past max_output_bytes, dropped (nil: none). A run's
    /// are its result's `droppedOutputLines`.
    public var droppedOutputLines: Int?
    /// `gc`: the shared heap's collector after the action.
    public var gc: SharedHeapStatus?
    /// `workloads`: library name → the first line of its header comment.
    public var workloads: [String: String]?
    /// `config`: the daemon's effective settings.
    public var config: [String: String]?
    /// `report`: the shared heap's memory report.
    public var memoryReport: MemoryReport?

    public init(id: RequestID?, type: String) {
        self.id = id
        self.type = type
    }

    static func error(_ id: RequestID?, _ code: ErrorCode, _ message: String) -> Response {
        var response = Response(id: id, type: "error")
        response.code = code.rawValue
        response.message = message
        return response
    }
}

/// One collection during a streamed run (`gc` events).
public struct CollectionEvent: Codable, Sendable, Equatable {
    public var generation: Int
    public var reason: String
    /// `concurrent` or `stop-the-world`.
    public var mode: String
    public var candidates: Int
    public var collected: Int
    public var pauseMilliseconds: Double
    /// Of the pause, the time to safepoint (until every mutator had stopped).
    public var safepointMilliseconds: Double
    /// The concurrent phase (0 for stop-the-world), and the garbage it found tentatively, the
    /// pause validated and dropped (dropped = tentative - validated).
    public var concurrentMilliseconds: Double
    public var tentative: Int
    public var validated: Int
    public var dropped: Int
}

/// The shared heap's collector (`gc` responses).
public struct SharedHeapStatus: Codable, Sendable, Equatable {
    public var enabled: Bool
    /// `concurrent` or `stop-the-world`.
    public var collector: String
    public var count: [Int]
    public var thresholds: [Int]
    public var collections: [Int]
    public var frozen: Int
    public var mappedBytes: Int
    /// For `collect`: unreachable objects found.
    public var collected: Int?
    /// For `freeze` / `unfreeze`: objects moved.
    public var moved: Int?
}

/// heapd's protocol version, bumped when a request or response changes shape. Protocol 3 added
/// fields to results (RunResult decodes a protocol 2 result without them) and to responses
/// (`recorded`, `journalError`, `droppedEvents`, exec's `droppedOutputLines`), events and ops;
/// docs/protocol.md, "Versions", lists them.
public let protocolVersion = "heapd 0.3 (protocol 3)"
