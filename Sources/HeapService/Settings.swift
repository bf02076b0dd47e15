// Settings: heapd's configuration, from a file, then HEAPD_* environment variables, then flags
// (each later one overrides the earlier).
//
// The file (`/etc/heapd/heapd.toml`, or `heapd --config PATH`) is flat TOML: `key = value` lines,
// `#` comments, values that are strings ("..."), integers, decimals, booleans or arrays of
// integers. Unknown keys and malformed lines are errors with their line number: a typo must not
// be silently ignored by a daemon.
//
//   key                 environment               meaning
//   socket              HEAPD_SOCKET              the socket path
//   workers             HEAPD_WORKERS             runs executing at once
//   queue_limit         HEAPD_QUEUE_LIMIT         runs waiting beyond those
//   max_request_bytes   HEAPD_MAX_REQUEST_BYTES   longest request line
//   workloads           HEAPD_WORKLOADS           library directory
//   state_directory     HEAPD_STATE_DIRECTORY     where the journal lives
//   journal_max_bytes   HEAPD_JOURNAL_MAX_BYTES   the journal's active file is rotated past this
//                                                 size (4096 to 2^40; 8 MiB)
//   journal_segments    HEAPD_JOURNAL_SEGMENTS    rotated journal files kept (1 to 1000; 4)
//   allow_group         HEAPD_ALLOW_GROUP         a group whose members may connect
//   heap_limit_mib      HEAPD_HEAP_LIMIT_MIB      default heap limit of a run (1024)
//   time_limit_seconds  HEAPD_TIME_LIMIT_SECONDS  default time limit of a run (600)
//   max_heap_limit_mib  HEAPD_MAX_HEAP_LIMIT_MIB  the most heapLimitMiB a run may ask for (4096)
//   max_time_limit_seconds  HEAPD_MAX_TIME_LIMIT_SECONDS  the most timeLimitSeconds (3600)
//   max_output_bytes    HEAPD_MAX_OUTPUT_BYTES    output a run keeps and streams (1 MiB)
//   max_threads         HEAPD_MAX_THREADS         threads a run may spawn (256)
//   max_events          HEAPD_MAX_EVENTS          phase and gc events a streamed run sends (10,000)
//   shared_heap_limit_mib  HEAPD_SHARED_HEAP_LIMIT_MIB  the shared heap's own limit (1024)
//   rc                  HEAPD_RC                  default policy: biased, atomic, global-lock
//   thresholds          HEAPD_THRESHOLDS          collector thresholds, e.g. [700, 10, 10]
//   numa_nodes          HEAPD_NUMA_NODES          simulate this many NUMA nodes in each run's heap
//   pin_threads         HEAPD_PIN_THREADS         pin each run's threads to CPUs (true / false)
//   pause_workers       HEAPD_PAUSE_WORKERS       threads sharing a large collection's heap walk
//   validation_assists  HEAPD_VALIDATION_ASSISTS  mutators validating batches in a concurrent
//                                                 collection's pause (0 to 3; 0)
//   pause_priority_boost HEAPD_PAUSE_PRIORITY_BOOST  nice levels the stopper gains for a pause
//                                                 (0 to 20; 10)
//   collector           HEAPD_COLLECTOR           collection mode of runs and the shared heap:
//                                                 concurrent, stop-the-world
//   striping            HEAPD_STRIPING            per-thread counts for hot shared objects in runs
//                                                 that name none: adaptive, off (docs/striping.md)
//   max_connections     HEAPD_MAX_CONNECTIONS     connections served at once, in all (1024)
//   max_connections_per_user HEAPD_MAX_CONNECTIONS_PER_USER  of them, one user's (256)
//   idle_timeout_seconds HEAPD_IDLE_TIMEOUT_SECONDS  a connection silent this long with nothing
//                                                 unanswered is closed (300; 0: never)
//   output_high_water_bytes HEAPD_OUTPUT_HIGH_WATER_BYTES  responses waiting for a client past
//                                                 which its streamed runs are cancelled and it is
//                                                 disconnected (4 MiB)
//   metrics_listen      HEAPD_METRICS_LISTEN      also serve the metrics over HTTP at this IP
//                                                 address and port: "127.0.0.1:9464",
//                                                 "[::1]:9464" (MetricsServer; none by default)
//
// Flags (`heapd --workers 4`) go through the same checks as the file and the variables
// (`parse(flags:)`), and ServiceConfiguration(settings:) checks what only the whole can: a
// default limit above its maximum is an error, and an unset default is lowered to the maximum.

import Foundation
import HeapCore

public struct Settings: Sendable, Equatable {
    public var socket: String?
    public var workers: Int?
    public var queueLimit: Int?
    public var maxRequestBytes: Int?
    public var workloads: String?
    public var stateDirectory: String?
    public var journalMaxBytes: Int?
    public var journalSegments: Int?
    public var allowGroup: String?
    public var heapLimitMiB: Int?
    public var timeLimitSeconds: Double?
    public var maxHeapLimitMiB: Int?
    public var maxTimeLimitSeconds: Double?
    public var maxOutputBytes: Int?
    public var maxThreads: Int?
    public var maxEvents: Int?
    public var sharedHeapLimitMiB: Int?
    public var rc: String?
    public var thresholds: [Int]?
    public var numaNodes: Int?
    public var pinThreads: Bool?
    public var pauseWorkers: Int?
    public var validationAssists: Int?
    public var pausePriorityBoost: Int?
    public var collector: String?
    public var striping: String?
    public var maxConnections: Int?
    public var maxConnectionsPerUser: Int?
    public var idleTimeoutSeconds: Int?
    public var outputHighWaterBytes: Int?
    /// As written (`127.0.0.1:9464`), checked by MetricsServer.address(parsing:).
    public var metricsListen: String?

    public init() {}

    /// A setting that could not be read.
    public struct Problem: Error, CustomStringConvertible, Equatable {
        public var source: String
        public var message: String
        public var description: String { "\(source): \(message)" }

        public init(source: String, message: String) {
            self.source = source
            self.message = message
        }
    }

    static let keys: [(file: String, environment: String)] = [
        ("socket", "HEAPD_SOCKET"), ("workers", "HEAPD_WORKERS"), ("queue_limit", "HEAPD_QUEUE_LIMIT"),
        ("max_request_bytes", "HEAPD_MAX_REQUEST_BYTES"), ("workloads", "HEAPD_WORKLOADS"),
        ("state_directory", "HEAPD_STATE_DIRECTORY"), ("journal_max_bytes", "HEAPD_JOURNAL_MAX_BYTES"),
        ("journal_segments", "HEAPD_JOURNAL_SEGMENTS"), ("allow_group", "HEAPD_ALLOW_GROUP"),
        ("heap_limit_mib", "HEAPD_HEAP_LIMIT_MIB"), ("time_limit_seconds", "HEAPD_TIME_LIMIT_SECONDS"),
        ("max_heap_limit_mib", "HEAPD_MAX_HEAP_LIMIT_MIB"), ("max_time_limit_seconds", "HEAPD_MAX_TIME_LIMIT_SECONDS"),
        ("max_output_bytes", "HEAPD_MAX_OUTPUT_BYTES"), ("max_threads", "HEAPD_MAX_THREADS"), ("max_events", "HEAPD_MAX_EVENTS"),
        ("shared_heap_limit_mib", "HEAPD_SHARED_HEAP_LIMIT_MIB"),
        ("rc", "HEAPD_RC"), ("thresholds", "HEAPD_THRESHOLDS"), ("numa_nodes", "HEAPD_NUMA_NODES"), ("pin_threads", "HEAPD_PIN_THREADS"),
        ("pause_workers", "HEAPD_PAUSE_WORKERS"), ("collector", "HEAPD_COLLECTOR"),
        ("validation_assists", "HEAPD_VALIDATION_ASSISTS"), ("pause_priority_boost", "HEAPD_PAUSE_PRIORITY_BOOST"),
        ("striping", "HEAPD_STRIPING"),
        ("max_connections", "HEAPD_MAX_CONNECTIONS"), ("max_connections_per_user", "HEAPD_MAX_CONNECTIONS_PER_USER"),
        ("idle_timeout_seconds", "HEAPD_IDLE_TIMEOUT_SECONDS"), ("output_high_water_bytes", "HEAPD_OUTPUT_HIGH_WATER_BYTES"),
        ("metrics_listen", "HEAPD_METRICS_LISTEN"),
    ]

    /// Reads a configuration file's text (`name` names it in errors).
    public static func parse(file text: String, name: String) throws(Problem) -> Settings {
        var settings = Settings()
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = stripComment(String(rawLine)).trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty else { continue }
            let source = "\(name):\(number + 1)"
            guard let equals = line.firstIndex(of: "=") else { throw Problem(source: source, message: "expected key = value, found '\(line)'") }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            try settings.set(key, value, source: source, quoted: true)
        }
        return settings
    }

    /// Reads the HEAPD_* variables of `environment` (values written as in the file, strings
    /// without quotes).
    public static func parse(environment: [String: String]) throws(Problem) -> Settings {
        var settings = Settings()
        for (key, variable) in keys {
            guard let value = environment[variable] else { continue }
            try settings.set(key, value, source: variable, quoted: false)
        }
        return settings
    }

    /// Reads command-line flags, by setting name (`["workers": "4"]`), with the checks of the
    /// file and the variables; a problem names the flag (`--workers`).
    public static func parse(flags: [String: String]) throws(Problem) -> Settings {
        var settings = Settings()
        for (key, value) in flags.sorted(by: { $0.key < $1.key }) {
            try settings.set(key, value, source: "--" + key.replacingOccurrences(of: "_", with: "-"), quoted: false)
        }
        return settings
    }

    /// `self` with every setting `later` has replacing ours.
    public func overridden(by later: Settings) -> Settings {
        var merged = self
        merged.socket = later.socket ?? socket
        merged.workers = later.workers ?? workers
        merged.queueLimit = later.queueLimit ?? queueLimit
        merged.maxRequestBytes = later.maxRequestBytes ?? maxRequestBytes
        merged.workloads = later.workloads ?? workloads
        merged.stateDirectory = later.stateDirectory ?? stateDirectory
        merged.journalMaxBytes = later.journalMaxBytes ?? journalMaxBytes
        merged.journalSegments = later.journalSegments ?? journalSegments
        merged.allowGroup = later.allowGroup ?? allowGroup
        merged.heapLimitMiB = later.heapLimitMiB ?? heapLimitMiB
        merged.timeLimitSeconds = later.timeLimitSeconds ?? timeLimitSeconds
        merged.maxHeapLimitMiB = later.maxHeapLimitMiB ?? maxHeapLimitMiB
        merged.maxTimeLimitSeconds = later.maxTimeLimitSeconds ?? maxTimeLimitSeconds
        merged.maxOutputBytes = later.maxOutputBytes ?? maxOutputBytes
        merged.maxThreads = later.maxThreads ?? maxThreads
        merged.maxEvents = later.maxEvents ?? maxEvents
        merged.sharedHeapLimitMiB = later.sharedHeapLimitMiB ?? sharedHeapLimitMiB
        merged.rc = later.rc ?? rc
        merged.thresholds = later.thresholds ?? thresholds
        merged.numaNodes = later.numaNodes ?? numaNodes
        merged.pinThreads = later.pinThreads ?? pinThreads
        merged.pauseWorkers = later.pauseWorkers ?? pauseWorkers
        merged.validationAssists = later.validationAssists ?? validationAssists
        merged.pausePriorityBoost = later.pausePriorityBoost ?? pausePriorityBoost
        merged.collector = later.collector ?? collector
        merged.striping = later.striping ?? striping
        merged.maxConnections = later.maxConnections ?? maxConnections
        merged.maxConnectionsPerUser = later.maxConnectionsPerUser ?? maxConnectionsPerUser
        merged.idleTimeoutSeconds = later.idleTimeoutSeconds ?? idleTimeoutSeconds
        merged.outputHighWaterBytes = later.outputHighWaterBytes ?? outputHighWaterBytes
        merged.metricsListen = later.metricsListen ?? metricsListen
        return merged
    }

    private mutating func set(_ key: String, _ value: String, source: String, quoted: Bool) throws(Problem) {
        func string() throws(Problem) -> String {
            guard quoted else { return value }
            guard value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") else {
                throw Problem(source: source, message: "\(key) is a string: write it in double quotes")
            }
            return String(value.dropFirst().dropLast())
        }
        func integer(_ range: ClosedRange<Int>) throws(Problem) -> Int {
            guard let number = Int(value.replacingOccurrences(of: "_", with: "")), range.contains(number) else {
                throw Problem(source: source, message: "\(key) is an integer from \(range.lowerBound) to \(range.upperBound), not \(value)")
            }
            return number
        }
        // Checked before any conversion: a negative, huge or non-finite value would trap in one.
        func seconds() throws(Problem) -> Double {
            guard let seconds = Double(value), seconds > 0, seconds <= Service.maximumTimeLimitSeconds else {
                throw Problem(source: source, message: "\(key) is above 0 and at most \(Int(Service.maximumTimeLimitSeconds)), not \(value)")
            }
            return seconds
        }
        switch key {
        case "socket": socket = try string()
        case "workers": workers = try integer(1...1024)
        case "queue_limit": queueLimit = try integer(0...1_000_000)
        case "max_request_bytes": maxRequestBytes = try integer(64...(1 << 30))
        case "workloads": workloads = try string()
        case "state_directory": stateDirectory = try string()
        case "journal_max_bytes": journalMaxBytes = try integer(4096...(1 << 40))
        case "journal_segments": journalSegments = try integer(1...1000)
        case "allow_group": allowGroup = try string()
        case "heap_limit_mib": heapLimitMiB = try integer(Service.heapLimitRange)
        case "time_limit_seconds": timeLimitSeconds = try seconds()
        case "max_heap_limit_mib": maxHeapLimitMiB = try integer(Service.heapLimitRange)
        case "max_time_limit_seconds": maxTimeLimitSeconds = try seconds()
        case "max_output_bytes": maxOutputBytes = try integer(0...(1 << 30))
        case "max_threads": maxThreads = try integer(1...4096)
        case "max_events": maxEvents = try integer(0...10_000_000)
        case "shared_heap_limit_mib": sharedHeapLimitMiB = try integer(Service.heapLimitRange)
        case "rc":
            let policy = try string()
            guard ["biased", "atomic", "global-lock"].contains(policy) else {
                throw Problem(source: source, message: "rc is biased, atomic or global-lock, not \(policy)")
            }
            rc = policy
        case "collector":
            let mode = try string()
            guard ["concurrent", "stop-the-world"].contains(mode) else {
                throw Problem(source: source, message: "collector is concurrent or stop-the-world, not \(mode)")
            }
            collector = mode
        case "striping":
            let mode = try string()
            guard StripingMode(rawValue: mode) != nil else {
                throw Problem(source: source, message: "striping is adaptive or off, not \(mode)")
            }
            striping = mode
        case "thresholds":
            let inner = value.trimmingCharacters(in: .whitespaces)
            guard inner.hasPrefix("["), inner.hasSuffix("]") else { throw Problem(source: source, message: "thresholds is an array like [700, 10, 10]") }
            let numbers = inner.dropFirst().dropLast().split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard (1...3).contains(numbers.count), numbers.allSatisfy({ Service.thresholdRange.contains($0 ?? -1) }) else {
                throw Problem(source: source, message: "thresholds is one to three integers from 0 to \(Service.thresholdRange.upperBound), like [700, 10, 10]")
            }
            thresholds = numbers.map { $0! }
        case "numa_nodes": numaNodes = try integer(1...64)
        case "pause_workers": pauseWorkers = try integer(1...256)
        case "validation_assists": validationAssists = try integer(CollectorConfiguration.validationAssistsRange)
        case "pause_priority_boost": pausePriorityBoost = try integer(CollectorConfiguration.pausePriorityBoostRange)
        case "max_connections": maxConnections = try integer(ConnectionLimits.connectionRange)
        case "max_connections_per_user": maxConnectionsPerUser = try integer(ConnectionLimits.connectionRange)
        case "idle_timeout_seconds": idleTimeoutSeconds = try integer(ConnectionLimits.idleTimeoutRange)
        case "output_high_water_bytes": outputHighWaterBytes = try integer(ConnectionLimits.outputHighWaterRange)
        case "metrics_listen":
            let address = try string()
            guard MetricsServer.address(parsing: address) != nil else {
                throw Problem(source: source, message: "metrics_listen is an IP address and a port, like 127.0.0.1:9464 or [::1]:9464 (no host names), not \(address)")
            }
            metricsListen = address
        case "pin_threads":
            guard value == "true" || value == "false" else { throw Problem(source: source, message: "pin_threads is true or false, not \(value)") }
            pinThreads = value == "true"
        default:
            throw Problem(source: source, message: "unknown setting '\(key)' (settings: \(Settings.keys.map(\.file).joined(separator: ", ")))")
        }
    }

    /// The line without a `#` comment (a `#` inside a string stays).
    private static func stripComment(_ line: String) -> String {
        var inString = false
        for index in line.indices {
            if line[index] == "\"" { inString.toggle() }
            if line[index] == "#" && !inString { return String(line[..<index]) }
        }
        return line
    }
}

extension ServiceConfiguration {
    /// The daemon's configuration: what `settings` sets, ServiceConfiguration's defaults for the
    /// rest (the library directory: `./workloads`). A default limit above its maximum is a
    /// problem; an unset one is lowered to its maximum. The journal's settings are the
    /// journal's (JournalLimits), the socket, group and state directory the daemon's.
    public init(settings: Settings) throws(Settings.Problem) {
        self.init()
        workers = settings.workers ?? workers
        queueLimit = settings.queueLimit ?? queueLimit
        maxRequestBytes = settings.maxRequestBytes ?? maxRequestBytes
        workloadDirectory = settings.workloads ?? "workloads"
        maxHeapLimitMiB = settings.maxHeapLimitMiB ?? maxHeapLimitMiB
        maxTimeLimitSeconds = settings.maxTimeLimitSeconds ?? maxTimeLimitSeconds
        if let heapLimit = settings.heapLimitMiB, heapLimit > maxHeapLimitMiB {
            throw Settings.Problem(source: "heap_limit_mib", message: "\(heapLimit) is above max_heap_limit_mib, \(maxHeapLimitMiB)")
        }
        if let timeLimit = settings.timeLimitSeconds, timeLimit > maxTimeLimitSeconds {
            throw Settings.Problem(source: "time_limit_seconds", message: "\(timeLimit) is above max_time_limit_seconds, \(maxTimeLimitSeconds)")
        }
        defaultHeapLimitMiB = settings.heapLimitMiB ?? min(defaultHeapLimitMiB, maxHeapLimitMiB)
        defaultTimeLimitSeconds = settings.timeLimitSeconds ?? min(defaultTimeLimitSeconds, maxTimeLimitSeconds)
        maxOutputBytes = settings.maxOutputBytes ?? maxOutputBytes
        maxThreads = settings.maxThreads ?? maxThreads
        maxEvents = settings.maxEvents ?? maxEvents
        sharedHeapLimitMiB = settings.sharedHeapLimitMiB ?? sharedHeapLimitMiB
        defaultPolicy = settings.rc
        thresholds = settings.thresholds
        numaNodes = settings.numaNodes
        pauseWorkers = settings.pauseWorkers
        validationAssists = settings.validationAssists
        pausePriorityBoost = settings.pausePriorityBoost
        collectionMode = settings.collector.flatMap(CollectionMode.init(rawValue:))
        striping = settings.striping.flatMap(StripingMode.init(rawValue:))
        pinThreads = settings.pinThreads ?? false
        connections.maxConnections = settings.maxConnections ?? connections.maxConnections
        connections.maxConnectionsPerUser = settings.maxConnectionsPerUser ?? connections.maxConnectionsPerUser
        connections.idleTimeoutSeconds = settings.idleTimeoutSeconds ?? connections.idleTimeoutSeconds
        connections.outputHighWaterBytes = settings.outputHighWaterBytes ?? connections.outputHighWaterBytes
        metricsListen = settings.metricsListen
    }
}
