// MemoryReportText: a memory report (HeapWorkload's MemoryReport) as text for people — what
// `heapctl run --memory-report` prints after the summary, and `heapctl report` for the shared heap.
//
//   snapshots      each with its largest groups and what keeps the largest alive
//   differences    per pair of consecutive snapshots, the groups that changed most
//   leaks          what was alive at the end, with a chain from a root or "unreachable"
//   fragmentation  per size class, pages by state, bytes in use against committed, mapped, RSS

import Foundation
import HeapCore
import HeapWorkload

enum MemoryReportText {
    /// Rows shown per table (the JSON has more).
    static let rows = 10

    static func text(of report: MemoryReport) -> String {
        var out = "memory report" + (report.tracing ? " (allocation sites traced)" : " (no tracing: groups are types; --trace records sites)") + "\n"
        for snapshot in report.snapshots {
            out += "\nsnapshot \"\(snapshot.name)\" at \(String(format: "%.3f", snapshot.seconds)) s: \(snapshot.objects) objects, \(bytes(snapshot.bytes))\n"
            out += table(["objects", "bytes", "group"], snapshot.groups.prefix(rows).map { [String($0.objects), bytes($0.bytes), $0.name] })
            if !snapshot.retention.isEmpty { out += "  what keeps the largest alive:\n" }
            for retention in snapshot.retention.prefix(3) {
                out += "    \(retention.group)\n      \(retention.chain.text)\(cycleNote(retention.chain))\n"
            }
            let holes = snapshot.fragmentation
            out += "  heap: \(bytes(holes.inUseBytes)) in use of \(bytes(holes.committedBytes)) committed (fragmentation \(String(format: "%.2f", holes.fragmentationIndex))), \(bytes(holes.mappedBytes)) mapped, \(bytes(holes.releasableBytes)) resident in empty pages\n"
        }
        for difference in report.differences {
            out += "\n\"\(difference.from)\" → \"\(difference.to)\": largest changes\n"
            if difference.changes.isEmpty { out += "  (none)\n" }
            out += table(["Δ objects", "Δ bytes", "objects", "bytes", "group"], difference.changes.prefix(rows).map {
                [signed($0.objectsDelta), signed($0.bytesDelta, bytes: true), String($0.objects), bytes($0.bytes), $0.name]
            })
        }
        out += report.scope == "shared heap" ? "\ngarbage kept by save-all mode\n" : "\nalive at the end of the run\n"
        if report.leaks.isEmpty { out += "  (nothing)\n" }
        for leak in report.leaks.prefix(rows) {
            out += "  \(leak.objects) object\(leak.objects == 1 ? "" : "s"), \(bytes(leak.bytes)): \(leak.group)\n"
            if let chain = leak.chain { out += "      \(chain.text)\(cycleNote(chain))\n" }
            if leak.unreachable > 0 {
                out += "      \(leak.unreachable) unreachable: cyclic garbage the collector has not freed\(leak.finalizerCycle ? " (with finalizers)" : "")\n"
            } else if leak.finalizerCycle {
                out += "      in cycles with finalizers\n"
            }
        }
        // The moment with the most bytes in holes: what the allocator made of the program's frees.
        if let worst = report.snapshots.max(by: { holeBytes($0.fragmentation) < holeBytes($1.fragmentation) }) {
            out += "\nat snapshot \"\(worst.name)\" (most bytes in holes), " + fragmentation(worst.fragmentation)
        }
        if let last = report.timeline.last {
            let peak = report.timeline.map(\.residentBytes).max() ?? 0
            out += "\ntimeline: \(report.timeline.count) samples over \(String(format: "%.2f", last.seconds)) s, \(report.collectionSeconds.count) collections, peak RSS \(bytes(peak)) (--timeline FILE.svg or .csv draws it)\n"
        }
        return out
    }

    static func fragmentation(_ report: FragmentationReport) -> String {
        var out = "fragmentation: index \(String(format: "%.2f", report.fragmentationIndex)) (1 − in use / committed)\n"
        out += "  in use \(bytes(report.inUseBytes)), committed \(bytes(report.committedBytes)), mapped \(bytes(report.mappedBytes)), heap resident \(bytes(report.arenaResidentBytes + report.largeMappedBytes)), process RSS \(bytes(report.residentBytes))\n"
        out += "  pages: \(report.fullPages) full, \(report.partialPages) partial, \(report.emptyPages) empty, \(report.freePages) free in \(report.arenas) arenas (occupancy \(String(format: "%.0f", report.arenaOccupancy * 100)) %); large: \(report.largeBlocks) block\(report.largeBlocks == 1 ? "" : "s"), \(bytes(report.largeBytes))\n"
        out += "  releasing empty and free pages would give back \(bytes(report.releasableBytes)) of resident memory\n"
        let rows = report.sizeClasses.sorted { $0.holeBytes > $1.holeBytes }.prefix(MemoryReportText.rows).map { row in
            [String(row.blockSize), String(row.pages), "\(row.fullPages)/\(row.partialPages)/\(row.emptyPages)", String(row.blocksInUse), String(row.freeBlocks),
             bytes(row.holeBytes), String(format: "%.0f %%", row.committedBytes == 0 ? 0 : Double(row.holeBytes) / Double(row.committedBytes) * 100)]
        }
        out += table(["class", "pages", "full/part/empty", "in use", "free blocks", "holes", "holes %"], rows)
        return out
    }

    private static func holeBytes(_ report: FragmentationReport) -> Int { report.committedBytes - report.inUseBytes }

    private static func cycleNote(_ chain: ReferenceChain) -> String {
        guard let size = chain.cycleSize else { return "" }
        let only = chain.cycleReferrers == 1 ? ", kept alive only by this chain" : ""
        return "  [in a cycle of \(size) object\(size == 1 ? "" : "s")\(only)]"
    }

    /// Columns right-aligned but the last, two spaces apart, indented by two.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        guard !rows.isEmpty else { return "" }
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max()! }
        return all.map { row in
            "  " + row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : String(repeating: " ", count: widths[column] - cell.count) + cell
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    static func bytes(_ value: Int) -> String {
        let magnitude = abs(value)
        if magnitude >= 1 << 30 { return String(format: "%.2f GiB", Double(value) / Double(1 << 30)) }
        if magnitude >= 1 << 20 { return String(format: "%.1f MiB", Double(value) / Double(1 << 20)) }
        if magnitude >= 1 << 10 { return String(format: "%.1f KiB", Double(value) / Double(1 << 10)) }
        return "\(value) B"
    }

    private static func signed(_ value: Int, bytes asBytes: Bool = false) -> String {
        (value > 0 ? "+" : "") + (asBytes ? bytes(value) : String(value))
    }
}
