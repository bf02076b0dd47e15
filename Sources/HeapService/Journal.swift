// Journal: every run heapd admits, appended durably to `journal.ndjson` in the state directory, so
// that history survives restarts and nothing a client was told is lost.
//
//   line kinds   {"kind":"started","run":N,...}   when a run is admitted (a run whose line cannot
//                                                 be written is not run: `not_recorded`)
//                {"kind":"finished","run":N,...}  with its outcome; written and fsync()ed before
//                                                 the client is sent the result (which says
//                                                 `recorded: false` when that failed)
//                {"kind":"interrupted","run":N}   at the next start, for every run that started
//                                                 and has no end line (the daemon died, or the
//                                                 end line could not be written)
//                {"kind":"segment","run":N,"running":[...]}  first line of a file begun by
//                                                 rotation: the highest run number so far and
//                                                 the runs started and not ended
//   invariant    every started run has at most one finished or interrupted line after it;
//                `unended` = started runs − those with an end line
//   files        journal.ndjson (active, O_APPEND); journal.<k>.ndjson (older segments, a larger
//                k is newer, at most `limits.segments` of them). Journal+Opening.swift reads
//                them, Journal+Rotation.swift makes them.
//   durability   one write(2) and one fsync(2) per append; a failed one is cut back off the
//                file, so the next line starts on a line of its own; the directory is fsynced
//                once per file created
//   memory       the last `limits.historyEntries` ended runs, for `history` (never the file);
//                entries are clipped (JournalEntry.clipped) so that none is large
//
// Threads: `fileLock` guards the descriptor and everything about the files; `recent` has a lock
// of its own, so that `history` never waits for an fsync. Order: fileLock, then recent.

import Foundation
import HeapCore
import Logging
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// One journal line.
public struct JournalEntry: Codable, Sendable, Equatable {
    public var kind: String
    public var run: Int
    /// Seconds since 1970.
    public var time: Double
    public var file: String?
    public var policy: String?
    public var params: [String: Int64]?
    public var ok: Bool?
    public var code: String?
    public var message: String?
    public var wallSeconds: Double?
    public var allocations: Int?
    public var collections: Int?
    public var version: String?
    /// `segment` lines: the runs started and not ended when the file was begun.
    public var running: [Int]?

    /// The longest file name, message and params an entry keeps: a client's request must not
    /// make journal lines, or the history kept in memory, large.
    static let maximumFileCharacters = 256
    static let maximumMessageCharacters = 1024
    static let maximumParams = 64
    static let maximumParamNameCharacters = 64

    /// This entry with its file name and message cut to their maximum, and at most
    /// `maximumParams` params (the first by name, names cut too).
    func clipped() -> JournalEntry {
        var entry = self
        entry.file = file.map { String($0.prefix(Self.maximumFileCharacters)) }
        entry.message = message.map { String($0.prefix(Self.maximumMessageCharacters)) }
        if let params, params.count > Self.maximumParams || params.keys.contains(where: { $0.count > Self.maximumParamNameCharacters }) {
            let kept = params.sorted { $0.key < $1.key }.prefix(Self.maximumParams)
            entry.params = Dictionary(kept.map { (String($0.key.prefix(Self.maximumParamNameCharacters)), $0.value) },
                                      uniquingKeysWith: { first, _ in first })
        }
        return entry
    }
}

public enum JournalError: Error, CustomStringConvertible {
    case cannotOpen(String, Int32)
    case cannotRead(String)
    case notARegularFile(String)
    case cannotRepair(String, Int32)
    case cannotEncode(String)
    case cannotWrite(String, Int32)
    case cannotSync(String, Int32)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let code): "cannot open the results journal \(path): \(String(cString: strerror(code)))"
        case .cannotRead(let path): "cannot read the results journal \(path)"
        case .notARegularFile(let path): "the results journal \(path) is not a regular file"
        case .cannotRepair(let path, let code): "cannot cut the torn last line of the results journal \(path): \(String(cString: strerror(code)))"
        case .cannotEncode(let reason): "cannot encode a journal line: \(reason)"
        case .cannotWrite(let path, let code): "cannot write the results journal \(path): \(String(cString: strerror(code)))"
        case .cannotSync(let path, let code): "cannot fsync the results journal \(path): \(String(cString: strerror(code)))"
        }
    }
}

/// How large the journal may grow, on disk and in memory.
public struct JournalLimits: Sendable, Equatable {
    /// The active file is rotated into a segment once it is larger than this (bytes).
    public var maxBytes = 8 << 20
    /// Old segments kept beside the active file (the oldest are deleted).
    public var segments = 4
    /// Ended runs kept in memory for `history` (its largest `limit`).
    public var historyEntries = 1000

    public init() {}
}

/// The journal's write(2) and fsync(2), whose failures it reports: a seam, so that tests can make
/// them fail. Both answer as the system calls do (-1 and `errno` on failure).
struct JournalDisk: Sendable {
    var write: @Sendable (_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Int
    var sync: @Sendable (_ descriptor: Int32) -> Int32

    static let system = JournalDisk(write: { descriptor, bytes in Glibc.write(descriptor, bytes.baseAddress, bytes.count) },
                                    sync: { descriptor in fsync(descriptor) })
}

/// `@unchecked Sendable`: the file state is touched only under `fileLock`; `recent` is `Locked`.
public final class Journal: @unchecked Sendable {
    public let directory: String
    /// The active file.
    public let path: String
    public let limits: JournalLimits
    /// How many interrupted runs the opening found (and recorded, unless that write failed).
    public let interruptedAtStart: Int
    /// The bytes of a torn last line the opening cut off (0: the file ended cleanly).
    public let repairedBytes: Int

    let disk: JournalDisk
    let logger: Logger
    let fileLock = Lock()
    // Under fileLock:
    /// The file lines are appended to: the active file, or (while a rotation is half done) the
    /// newest segment.
    var descriptor: Int32
    var nextRun: Int
    /// Runs with a started line and no end line (running, or their end line failed).
    var unended: Set<Int>
    /// The segments' numbers, oldest first.
    var segmentNumbers: [Int]
    /// A failed write could not be cut back off the file: the next line starts with a newline.
    var needsNewline = false
    /// The active file has been renamed into a segment and no new one is open yet.
    var activeRenamed = false
    /// A rotation step failed and was logged; quiet until one succeeds.
    var rotationFailing = false
    /// The latest ended runs, oldest first, at most `limits.historyEntries`.
    let recent: Locked<CircularBuffer<JournalEntry>>

    /// Opens (or creates) the journal in `directory`: cuts a torn last line off the active file,
    /// loads the latest ended runs into memory, and records as interrupted every run that started
    /// without ending.
    public convenience init(directory: String, limits: JournalLimits = JournalLimits(),
                            logger: Logger = Logger(label: "heapd", factory: { _ in SwiftLogNoOpLogHandler() })) throws(JournalError) {
        try self.init(directory: directory, limits: limits, disk: .system, logger: logger)
    }

    init(directory: String, limits: JournalLimits, disk: JournalDisk, logger: Logger) throws(JournalError) {
        precondition(limits.maxBytes >= 1 && limits.segments >= 1 && limits.historyEntries >= 1, "journal limits are 1 or more")
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        self.directory = directory
        path = directory + "/journal.ndjson"
        self.limits = limits
        self.disk = disk
        self.logger = logger
        let opened = try Journal.openActive(path: path, disk: disk)
        if opened.created { Journal.syncDirectory(directory, disk: disk, logger: logger) }
        if opened.cutBytes > 0 { logger.warning("journal: cut a torn last line of \(opened.cutBytes) bytes off \(path)") }
        descriptor = opened.descriptor
        repairedBytes = opened.cutBytes
        segmentNumbers = Journal.segmentNumbers(in: directory)
        let scan = Journal.scan(active: opened.entries, segments: segmentNumbers.reversed().map { Journal.segmentPath(directory, $0) },
                                historyEntries: limits.historyEntries)
        nextRun = scan.highestRun + 1
        unended = scan.unended
        interruptedAtStart = scan.unended.count
        var recent = CircularBuffer<JournalEntry>(initialCapacity: limits.historyEntries)
        recent.append(contentsOf: scan.recent)
        self.recent = Locked(recent)
        fileLock.withLock {
            let now = Date().timeIntervalSince1970
            let interrupted = unended.sorted().map { JournalEntry(kind: "interrupted", run: $0, time: now) }
            if !interrupted.isEmpty {
                do throws(JournalError) {
                    try appendLocked(interrupted)
                } catch {
                    logger.error("journal: cannot record \(interrupted.count) interrupted run(s), left for the next start: \(error)")
                }
            }
            trimLocked()
        }
    }

    deinit {
        close(descriptor)
    }

    /// A new run number, with its `started` line written and synced.
    func start(file: String, policy: String, params: [String: Int64]) throws(JournalError) -> Int {
        try fileLock.withLock { () -> Result<Int, JournalError> in
            let entry = JournalEntry(kind: "started", run: nextRun, time: Date().timeIntervalSince1970, file: file, policy: policy, params: params)
            do throws(JournalError) {
                try appendLocked([entry])
            } catch {
                return .failure(error)
            }
            defer { nextRun += 1 }
            return .success(nextRun)
        }.get()
    }

    /// Writes a run's `finished` line and waits until it is on disk. On failure the line is not
    /// in the journal, and the run is recorded as interrupted at the next start.
    func finish(_ entry: JournalEntry) throws(JournalError) {
        try fileLock.withLock { () -> Result<Void, JournalError> in
            do throws(JournalError) {
                try appendLocked([entry])
                return .success(())
            } catch {
                return .failure(error)
            }
        }.get()
    }

    /// The last `limit` runs that ended (finished or interrupted), newest last: from memory.
    public func history(limit: Int) -> [JournalEntry] {
        recent.withLock { Array($0.suffix(max(limit, 0))) }
    }

    /// Writes `entries` with one write(2) and one fsync(2), then brings the memory up to date and
    /// rotates when the file has grown past its limit. A write or fsync that fails is cut back off
    /// the file. Lock held.
    func appendLocked(_ entries: [JournalEntry]) throws(JournalError) {
        fileLock.assertHeldByCurrentThread()
        let clipped = entries.map { $0.clipped() }
        var bytes: [UInt8] = needsNewline ? [Journal.newline] : []
        for entry in clipped { bytes += try Journal.line(entry) }
        let end = lseek(descriptor, 0, SEEK_END)
        if let failure = Journal.writeAndSync(bytes, to: descriptor, disk: disk, path: path) {
            // Cut back, so that the next line does not continue a torn one (the cut is made
            // durable by the next fsync that succeeds).
            needsNewline = end < 0 || ftruncate(descriptor, end) != 0
            throw failure
        }
        needsNewline = false
        for entry in clipped { remember(entry) }
        if Int(end) + bytes.count > limits.maxBytes { rotateLocked() }
    }

    /// Keeps the in-memory view up to date with a line now in the journal. Lock held.
    private func remember(_ entry: JournalEntry) {
        switch entry.kind {
        case "started":
            unended.insert(entry.run)
        case "finished", "interrupted":
            unended.remove(entry.run)
            recent.withLock { recent in
                recent.append(entry)
                while recent.count > limits.historyEntries { recent.removeFirst() }
            }
        default:
            break
        }
    }

    /// `entry` as one line of JSON, newline included.
    static func line(_ entry: JournalEntry) throws(JournalError) -> [UInt8] {
        do {
            return [UInt8](try JSONEncoder().encode(entry)) + [newline]
        } catch {
            throw .cannotEncode("\(error)")
        }
    }

    /// Writes all of `bytes` to `descriptor` (retrying short writes and EINTR), then fsyncs it;
    /// the error, or nil.
    static func writeAndSync(_ bytes: [UInt8], to descriptor: Int32, disk: JournalDisk, path: String) -> JournalError? {
        let failure = bytes.withUnsafeBytes { raw -> JournalError? in
            var offset = 0
            while offset < raw.count {
                let written = disk.write(descriptor, UnsafeRawBufferPointer(rebasing: raw[offset...]))
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return .cannotWrite(path, written < 0 ? errno : EIO) }
                offset += written
            }
            return nil
        }
        return failure ?? (disk.sync(descriptor) == 0 ? nil : .cannotSync(path, errno))
    }

    static let newline = UInt8(ascii: "\n")

    /// Every entry in the journal file at `path` (lines that do not decode are skipped).
    public static func read(_ path: String) -> [JournalEntry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return entries(in: [UInt8](data)[...])
    }

    /// Every entry of every file of the journal in `directory`, oldest first.
    public static func readAll(directory: String) -> [JournalEntry] {
        (segmentNumbers(in: directory).map { segmentPath(directory, $0) } + [directory + "/journal.ndjson"]).flatMap(read)
    }

    /// The entries of whole lines in `bytes` (a line with a run number outside `runNumbers` is
    /// skipped like one that does not decode).
    static func entries(in bytes: ArraySlice<UInt8>) -> [JournalEntry] {
        let decoder = JSONDecoder()
        return bytes.split(separator: newline).compactMap { line in
            guard let entry = try? decoder.decode(JournalEntry.self, from: Data(line)),
                  runNumbers.contains(entry.run), (entry.running ?? []).allSatisfy(runNumbers.contains) else { return nil }
            return entry
        }
    }

    /// The run numbers a journal file may hold: counting on from a larger one could overflow.
    static let runNumbers = 0..<(1 << 62)
}
