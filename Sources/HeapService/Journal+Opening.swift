// Journal+Opening: what heapd finds in its journal when it starts — the active file opened and a
// torn last line cut off it, then the files read newest first, only as far as needed:
//
//   unended runs   settled by the newest `segment` line (a rotation wrote the unended runs
//                  there), plus the started lines after it without an end line; with no `segment`
//                  line, every file is read
//   history        the latest `historyEntries` finished or interrupted entries
//   run numbers    the highest seen (a `segment` line carries the highest before it)
//
// A torn last line is what a crash in the middle of an append leaves: a line without its
// newline, or one that does not decode. Cutting it off makes later appends start on a line of
// their own; the run it belonged to is then unended (or was never answered), so it is found and
// recorded as interrupted like any other.

import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

extension Journal {
    struct OpenedActive {
        var descriptor: Int32
        /// The file did not exist: its directory entry must be made durable.
        var created: Bool
        /// The bytes of a torn last line cut off.
        var cutBytes: Int
        var entries: [JournalEntry]
    }

    /// Opens (or creates) the active file for appending, with a torn last line cut off.
    static func openActive(path: String, disk: JournalDisk) throws(JournalError) -> OpenedActive {
        // O_NONBLOCK: a FIFO put in the journal's place must not hang the opening; it changes
        // nothing for a regular file, and anything else is refused below.
        var created = true
        var descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NONBLOCK | O_CLOEXEC, 0o640)
        if descriptor < 0 && errno == EEXIST {
            created = false
            descriptor = open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC)
        }
        guard descriptor >= 0 else { throw .cannotOpen(path, errno) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else {
            close(descriptor)
            throw .notARegularFile(path)
        }
        guard !created else { return OpenedActive(descriptor: descriptor, created: true, cutBytes: 0, entries: []) }
        guard let data = FileManager.default.contents(atPath: path) else {
            close(descriptor)
            throw .cannotRead(path)
        }
        let bytes = [UInt8](data)
        let intact = intactLength(bytes)
        if intact < bytes.count {
            guard ftruncate(descriptor, off_t(intact)) == 0, disk.sync(descriptor) == 0 else {
                let code = errno
                close(descriptor)
                throw .cannotRepair(path, code)
            }
        }
        return OpenedActive(descriptor: descriptor, created: false, cutBytes: bytes.count - intact, entries: entries(in: bytes[..<intact]))
    }

    /// How many bytes of `bytes` to keep: all but a torn last line (one without its newline, or,
    /// when the last line has its newline, one that does not decode).
    static func intactLength(_ bytes: [UInt8]) -> Int {
        guard let last = bytes.lastIndex(of: newline) else { return 0 }
        if last + 1 < bytes.count { return last + 1 }
        let start = bytes[..<last].lastIndex(of: newline).map { $0 + 1 } ?? 0
        let decodes = (try? JSONDecoder().decode(JournalEntry.self, from: Data(bytes[start..<last]))) != nil
        return decodes || start == last ? bytes.count : start
    }

    struct Scan {
        var highestRun = 0
        var unended = Set<Int>()
        /// Ended runs, oldest first.
        var recent: [JournalEntry] = []
    }

    /// Reads the active file's `entries`, then the `segments` (paths, newest first) as far as
    /// needed (see the file comment).
    static func scan(active entries: [JournalEntry], segments: [String], historyEntries: Int) -> Scan {
        var scan = Scan()
        var ended = Set<Int>()
        var newestFirst: [JournalEntry] = []
        var settled = false
        var older = segments.makeIterator()
        var file = entries
        while true {
            for entry in file.reversed() {
                scan.highestRun = max(scan.highestRun, entry.run, entry.running?.max() ?? 0)
                switch entry.kind {
                case "finished", "interrupted":
                    ended.insert(entry.run)
                    if newestFirst.count < historyEntries { newestFirst.append(entry) }
                case "started":
                    if !settled && !ended.contains(entry.run) { scan.unended.insert(entry.run) }
                case "segment":
                    // The first line of its file: what came before it is settled here.
                    for run in entry.running ?? [] where !settled && !ended.contains(run) { scan.unended.insert(run) }
                    settled = true
                default:
                    break
                }
            }
            if settled && newestFirst.count >= historyEntries { break }
            guard let path = older.next() else { break }
            file = read(path)
        }
        scan.recent = newestFirst.reversed()
        return scan
    }

    /// The numbers of the segments in `directory` (`journal.<k>.ndjson`), oldest first.
    static func segmentNumbers(in directory: String) -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasPrefix("journal."), name.hasSuffix(".ndjson") else { return nil }
            let middle = name.dropFirst("journal.".count).dropLast(".ndjson".count)
            guard !middle.isEmpty, middle.allSatisfy(\.isASCII), middle.allSatisfy(\.isNumber) else { return nil }
            return Int(middle)
        }.sorted()
    }

    static func segmentPath(_ directory: String, _ number: Int) -> String {
        "\(directory)/journal.\(number).ndjson"
    }

    /// fsyncs `directory`, so that a file just created or renamed in it is there after a crash.
    static func syncDirectory(_ directory: String, disk: JournalDisk, logger: Logger) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else {
            return logger.error("journal: cannot open \(directory) to fsync it: \(String(cString: strerror(errno)))")
        }
        if disk.sync(descriptor) != 0 {
            logger.error("journal: cannot fsync \(directory): \(String(cString: strerror(errno)))")
        }
        close(descriptor)
    }
}
