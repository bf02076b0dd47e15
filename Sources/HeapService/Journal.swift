// Journal: completed runs, appended durably to `journal.ndjson` in the state directory, so that
// history survives restarts and nothing a client was told is lost.
//
//   line kinds   {"kind":"started","run":N,...}   when a run is admitted
//                {"kind":"finished","run":N,...}  with its outcome; written and fsync()ed before
//                                                 the client is sent the result
//                {"kind":"interrupted","run":N}   at the next start, for every run that started
//                                                 and never finished (the daemon died)
//   invariant    every started run has exactly one finished or interrupted line after it
//
// One file descriptor opened O_APPEND; each line is written by one write(2) under a lock.

import Foundation
import HeapCore
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
}

public enum JournalError: Error, CustomStringConvertible {
    case cannotOpen(String, Int32)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let code): "cannot open the results journal \(path): \(String(cString: strerror(code)))"
        }
    }
}

/// `@unchecked Sendable`: the descriptor is written under `lock`; `nextRun` is locked too.
public final class Journal: @unchecked Sendable {
    public let path: String
    private let descriptor: Int32
    private let lock = Lock()
    private var nextRun: Int
    /// How many interrupted runs the opening found and recorded.
    public let interruptedAtStart: Int

    /// Opens (or creates) the journal in `directory`, and records as interrupted every run that
    /// started without finishing.
    public init(directory: String) throws {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = directory + "/journal.ndjson"
        let entries = Journal.read(path)
        descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { throw JournalError.cannotOpen(path, errno) }
        var open = Set<Int>()
        for entry in entries {
            if entry.kind == "started" { open.insert(entry.run) } else { open.remove(entry.run) }
        }
        nextRun = (entries.map(\.run).max() ?? 0) + 1
        interruptedAtStart = open.count
        for run in open.sorted() {
            append(JournalEntry(kind: "interrupted", run: run, time: Date().timeIntervalSince1970))
        }
    }

    deinit {
        close(descriptor)
    }

    /// A new run number, with its `started` line written.
    func start(file: String, policy: String, params: [String: Int64]) -> Int {
        lock.withLock {
            defer { nextRun += 1 }
            write(JournalEntry(kind: "started", run: nextRun, time: Date().timeIntervalSince1970, file: file, policy: policy, params: params))
            return nextRun
        }
    }

    /// Writes a run's `finished` line and waits until it is on disk.
    func finish(_ entry: JournalEntry) {
        append(entry)
    }

    private func append(_ entry: JournalEntry) {
        lock.withLock { write(entry) }
    }

    /// One line, one write, then fsync. Lock held.
    private func write(_ entry: JournalEntry) {
        guard var line = try? JSONEncoder().encode(entry) else { return }
        line.append(UInt8(ascii: "\n"))
        line.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written <= 0 { return }
                offset += written
            }
        }
        fsync(descriptor)
    }

    /// Every entry in the journal at `path` (lines that do not decode — a torn last line — are
    /// skipped).
    public static func read(_ path: String) -> [JournalEntry] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        let decoder = JSONDecoder()
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(JournalEntry.self, from: Data($0)) }
    }

    /// The last `limit` runs that ended (finished or interrupted), newest last.
    public func history(limit: Int) -> [JournalEntry] {
        let ended = Journal.read(path).filter { $0.kind != "started" }
        return Array(ended.suffix(limit))
    }
}
