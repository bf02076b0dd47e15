// The journal in process: a torn last line cut off when it opens, write and fsync failures
// reported and cut back off the file, the directory fsynced once, rotation that keeps N segments
// and still matches runs across them, and history served from memory.

import Foundation
@testable import HeapService
import HeapCore
import Logging
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A disk for the journal whose writes and fsyncs fail when told to; it counts fsyncs.
final class FaultyDisk: Sendable {
    enum Fault: Sendable {
        case none
        /// Every write fails (ENOSPC).
        case write
        /// The next write writes half its bytes, and every write after it fails.
        case partialWrite
        /// Every fsync fails (EIO).
        case sync
    }

    let fault = Locked(Fault.none)
    let fileSyncs = Atomic<Int>(0)
    let directorySyncs = Atomic<Int>(0)

    var disk: JournalDisk {
        JournalDisk(write: { [self] descriptor, bytes in
            let fault = fault.withLock { fault in
                defer { if fault == .partialWrite { fault = .write } }
                return fault
            }
            switch fault {
            case .write:
                errno = ENOSPC
                return -1
            case .partialWrite:
                return Glibc.write(descriptor, bytes.baseAddress, bytes.count / 2)
            case .none, .sync:
                return Glibc.write(descriptor, bytes.baseAddress, bytes.count)
            }
        }, sync: { [self] descriptor in
            var status = stat()
            fstat(descriptor, &status)
            if status.st_mode & S_IFMT == S_IFDIR {
                directorySyncs.wrappingAdd(1, ordering: .relaxed)
            } else {
                fileSyncs.wrappingAdd(1, ordering: .relaxed)
            }
            guard fault.withLock({ $0 }) != .sync else {
                errno = EIO
                return -1
            }
            return fsync(descriptor)
        })
    }

    func set(_ fault: Fault) { self.fault.withLock { $0 = fault } }
}

/// A fresh directory under the temporary directory.
func temporaryJournalDirectory() -> String {
    NSTemporaryDirectory() + "heapd-journal-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
}

private let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

private func finished(_ run: Int) -> JournalEntry {
    JournalEntry(kind: "finished", run: run, time: Date().timeIntervalSince1970, file: "a.hw", policy: "biased", ok: true, wallSeconds: 0.001)
}

/// Starts and finishes one run; its number.
@discardableResult
private func record(_ journal: Journal) throws -> Int {
    let run = try journal.start(file: "a.hw", policy: "biased", params: ["depth": 4])
    try journal.finish(finished(run))
    return run
}

/// The journal's active file holds whole lines only: it ends with a newline and every line
/// decodes.
private func holdsWholeLines(_ path: String) -> Bool {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "?"
    let lines = text.split(separator: "\n")
    return (text.isEmpty || text.hasSuffix("\n")) && Journal.read(path).count == lines.count
}

@Suite struct JournalTests {
    @Test(arguments: [
        #"{"kind":"finished","run":2,"ti"#,                 // cut in the middle of a write
        #"{"kind":"finished","run":2,"time":5}"#,           // cut just before its newline
        "not a journal line\n",                             // a last line that does not decode
    ])
    func aTornLastLineIsCutOffAndItsRunIsFoundInterrupted(torn: String) throws {
        let directory = temporaryJournalDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let journal = try Journal(directory: directory)
            try record(journal)
            #expect(try journal.start(file: "b.hw", policy: "biased", params: [:]) == 2)
        }
        let path = directory + "/journal.ndjson"
        let file = try #require(FileHandle(forWritingAtPath: path))
        file.seekToEndOfFile()
        file.write(Data(torn.utf8))
        file.closeFile()
        #expect(!holdsWholeLines(path))

        let reopened = try Journal(directory: directory)
        #expect(reopened.repairedBytes == torn.utf8.count)
        #expect(holdsWholeLines(path))
        #expect(reopened.interruptedAtStart == 1)
        #expect(reopened.history(limit: 10).map(\.kind) == ["finished", "interrupted"])
        #expect(reopened.history(limit: 10).map(\.run) == [1, 2])
        #expect(try record(reopened) == 3)
        #expect(holdsWholeLines(path))
        #expect(Journal.read(path).map(\.kind) == ["started", "finished", "started", "interrupted", "started", "finished"])
    }

    @Test func aJournalThatIsOnlyATornLineIsEmptiedAndAFileThatEndsCleanlyIsLeftAlone() throws {
        let directory = temporaryJournalDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/journal.ndjson"
        let torn = #"{"kind":"started","run":1,"#
        try torn.write(toFile: path, atomically: false, encoding: .utf8)
        let first = try Journal(directory: directory)
        #expect(first.repairedBytes == torn.utf8.count)
        #expect(first.interruptedAtStart == 0)
        #expect(try record(first) == 1)
        let second = try Journal(directory: directory)
        #expect(second.repairedBytes == 0)
        #expect(Journal.read(path).count == 2)
    }

    /// Something else in the journal's place (a device, a FIFO) is refused, not read or written.
    @Test func aJournalThatIsNotARegularFileIsRefused() throws {
        let directory = temporaryJournalDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory + "/journal.ndjson", withDestinationPath: "/dev/zero")
        do {
            _ = try Journal(directory: directory)
            Issue.record("a journal on /dev/zero was opened")
        } catch {
            #expect(error.description.contains("is not a regular file"))
        }
    }

    /// A damaged or hand-edited line with a huge run number cannot make the numbering overflow.
    @Test func runNumbersTooLargeToCountOnFromAreIgnored() throws {
        let directory = temporaryJournalDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try """
            {"kind":"started","run":1,"time":0}
            {"kind":"finished","run":1,"time":0}
            {"kind":"started","run":9223372036854775807,"time":0}
            {"kind":"segment","run":2,"time":0,"running":[9223372036854775807]}

            """.write(toFile: directory + "/journal.ndjson", atomically: false, encoding: .utf8)
        let journal = try Journal(directory: directory)
        #expect(journal.interruptedAtStart == 0)
        #expect(try record(journal) == 2)
    }

    @Test func writeAndSyncFailuresAreReportedAndCutBackOffTheFile() throws {
        let directory = temporaryJournalDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let faulty = FaultyDisk()
        let journal = try Journal(directory: directory, limits: JournalLimits(), disk: faulty.disk, logger: quiet)
        let first = try journal.start(file: "a.hw", policy: "biased", params: [:])

        faulty.set(.sync)
        do {
            try journal.finish(finished(first))
            Issue.record("a finished line whose fsync failed was taken as recorded")
        } catch {
            #expect(error.description.contains("cannot fsync"))
            #expect(error.description.contains(String(cString: strerror(EIO))))
        }
        faulty.set(.partialWrite)
        do {
            _ = try journal.start(file: "b.hw", policy: "biased", params: [:])
            Issue.record("a started line half written was taken as recorded")
        } catch {
            #expect(error.description.contains("cannot write"))
            #expect(error.description.contains(String(cString: strerror(ENOSPC))))
        }
        faulty.set(.write)
        #expect(throws: JournalError.self) { try journal.start(file: "c.hw", policy: "biased", params: [:]) }

        faulty.set(.none)
        // A run number is used once its line is written, and the failed lines left nothing behind.
        #expect(try record(journal) == 2)
        let path = directory + "/journal.ndjson"
        #expect(holdsWholeLines(path))
        #expect(Journal.read(path).map(\.kind) == ["started", "started", "finished"])
        #expect(journal.history(limit: 10).map(\.run) == [2])

        // The run whose finished line failed is recorded as interrupted at the next start.
        let reopened = try Journal(directory: directory)
        #expect(reopened.interruptedAtStart == 1)
        #expect(reopened.history(limit: 10).map(\.kind) == ["finished", "interrupted"])
        #expect(reopened.history(limit: 10).map(\.run) == [2, 1])
    }

    @Test func theDirectoryIsSyncedOnceWhenTheFileIsCreatedNotPerLine() throws {
        let directory = temporaryJournalDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let faulty = FaultyDisk()
        do {
            let journal = try Journal(directory: directory, limits: JournalLimits(), disk: faulty.disk, logger: quiet)
            #expect(faulty.directorySyncs.load(ordering: .relaxed) == 1)
            for _ in 0..<20 { try record(journal) }
            #expect(faulty.directorySyncs.load(ordering: .relaxed) == 1)
            #expect(faulty.fileSyncs.load(ordering: .relaxed) == 40)
        }
        // Opening a file that exists syncs no directory.
        _ = try Journal(directory: directory, limits: JournalLimits(), disk: faulty.disk, logger: quiet)
        #expect(faulty.directorySyncs.load(ordering: .relaxed) == 1)
        // Each rotation creates a file: one directory fsync for each.
        var small = JournalLimits()
        small.maxBytes = 1000
        let rotating = try Journal(directory: directory, limits: small, disk: faulty.disk, logger: quiet)
        for _ in 0..<20 { try record(rotating) }
        let rotations = Journal.segmentNumbers(in: directory).last ?? 0
        #expect(rotations > 2)
        #expect(faulty.directorySyncs.load(ordering: .relaxed) == 1 + rotations)
    }

    @Test func rotationKeepsNSegmentsAndMatchesRunsAcrossThem() throws {
        let directory = temporaryJournalDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var limits = JournalLimits()
        limits.maxBytes = 1000
        limits.segments = 2
        do {
            let journal = try Journal(directory: directory, limits: limits)
            let long = try journal.start(file: "long.hw", policy: "biased", params: [:])
            for _ in 0..<30 { try record(journal) }
            try journal.finish(finished(long))
            #expect(journal.history(limit: 1).first?.run == long)
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        let segments = Journal.segmentNumbers(in: directory)
        #expect(names.count == 3, "\(names)")
        #expect(segments.count == 2)
        #expect(segments.first! > 1)                        // the oldest were deleted
        #expect(segments.last! == segments.first! + 1)
        #expect(names.contains("journal.ndjson"))
        // Nothing is unended: the long run's start (rotated away) and finish were matched.
        #expect(!Journal.readAll(directory: directory).contains { $0.kind == "started" && $0.run == 1 })
        let unended: Int
        do {
            let reopened = try Journal(directory: directory, limits: limits)
            #expect(reopened.interruptedAtStart == 0)
            unended = try reopened.start(file: "crash.hw", policy: "biased", params: [:])
            #expect(unended == 32)
            for _ in 0..<30 { try record(reopened) }
        }   // dropped as a kill -9 would: the run never finishes
        #expect(!Journal.readAll(directory: directory).contains { $0.kind == "started" && $0.run == unended })
        let third = try Journal(directory: directory, limits: limits)
        #expect(third.interruptedAtStart == 1)
        #expect(third.history(limit: 1).map(\.kind) == ["interrupted"])
        #expect(third.history(limit: 1).map(\.run) == [unended])
        #expect(try record(third) == 63)
        for path in [directory + "/journal.ndjson"] + Journal.segmentNumbers(in: directory).map({ Journal.segmentPath(directory, $0) }) {
            #expect(holdsWholeLines(path), "\(path)")
        }
    }

    @Test func historyIsServedFromMemoryAndLoadedFromTheSegments() throws {
        let directory = temporaryJournalDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var limits = JournalLimits()
        limits.maxBytes = 1000
        limits.segments = 100
        limits.historyEntries = 20
        let before: [JournalEntry]
        do {
            let journal = try Journal(directory: directory, limits: limits)
            for _ in 0..<30 { try record(journal) }
            before = journal.history(limit: 100)
            #expect(before.map(\.run) == Array(11...30))    // bounded: the 20 newest
            // Gone from the disk, still in memory.
            for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
                try FileManager.default.moveItem(atPath: directory + "/" + name, toPath: directory + "/moved-" + name)
            }
            #expect(journal.history(limit: 5).map(\.run) == Array(26...30))
            for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
                try FileManager.default.moveItem(atPath: directory + "/" + name, toPath: directory + "/" + name.dropFirst("moved-".count))
            }
        }
        #expect(Journal.segmentNumbers(in: directory).count > 3)
        let reopened = try Journal(directory: directory, limits: limits)
        #expect(reopened.history(limit: 100) == before)
    }

    @Test func entriesAreClippedSoThatNoClientMakesThemLarge() throws {
        let directory = temporaryJournalDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let journal = try Journal(directory: directory)
        let params = Dictionary(uniqueKeysWithValues: (0..<1000).map { ("p\($0)" + String(repeating: "x", count: 100), Int64($0)) })
        let run = try journal.start(file: String(repeating: "f", count: 10_000), policy: "biased", params: params)
        var entry = finished(run)
        entry.file = String(repeating: "f", count: 10_000)
        entry.params = params
        entry.message = String(repeating: "m", count: 100_000)
        try journal.finish(entry)
        let kept = try #require(journal.history(limit: 1).first)
        #expect(kept.file?.count == JournalEntry.maximumFileCharacters)
        #expect(kept.message?.count == JournalEntry.maximumMessageCharacters)
        #expect(kept.params?.count == JournalEntry.maximumParams)
        #expect(kept.params?.keys.allSatisfy { $0.count <= JournalEntry.maximumParamNameCharacters } == true)
        let lines = try String(contentsOfFile: directory + "/journal.ndjson", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { $0.utf8.count < 8192 })
    }

    @Test func theJournalSettingsAreReadAndChecked() throws {
        let settings = try Settings.parse(file: "journal_max_bytes = 65_536\njournal_segments = 3", name: "heapd.toml")
        #expect(settings.journalMaxBytes == 65_536)
        #expect(settings.journalSegments == 3)
        let environment = try Settings.parse(environment: ["HEAPD_JOURNAL_MAX_BYTES": "4096", "HEAPD_JOURNAL_SEGMENTS": "1"])
        #expect(environment.journalMaxBytes == 4096)
        #expect(settings.overridden(by: environment).journalSegments == 1)
        for (variable, value) in [("HEAPD_JOURNAL_MAX_BYTES", "4095"), ("HEAPD_JOURNAL_MAX_BYTES", "-1"), ("HEAPD_JOURNAL_MAX_BYTES", "\(1 << 41)"),
                                  ("HEAPD_JOURNAL_SEGMENTS", "0"), ("HEAPD_JOURNAL_SEGMENTS", "1001"), ("HEAPD_JOURNAL_SEGMENTS", "some")] {
            do {
                _ = try Settings.parse(environment: [variable: value])
                Issue.record("\(variable)=\(value) was accepted")
            } catch {
                #expect(error.description.hasPrefix("\(variable): journal_"), "\(error.description)")
            }
        }
    }
}
