// The workload files run: every library workload at its small size under each reference-counting
// policy with the collector thread on, every seed file, and binary-trees at depth 10 against the
// Benchmarks Game's reference output (and its checksum at other depths). Each run must end well,
// hold every `expect`, and release everything it made.

import Foundation
import HeapCore
import HeapWorkload
import XCTest

final class WorkloadRunTests: XCTestCase {
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("workloads")

    private func run(_ path: String, params: [String: Int64] = [:], policy: RefCountPolicyKind = .biased, pinned: Bool = false,
                     striping: StripingMode = .adaptive, file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        let bytes = try [UInt8](Data(contentsOf: WorkloadRunTests.root.appendingPathComponent(path)))
        let checked = try Program.parse(bytes: bytes, fileName: path)
        var configuration = RunConfiguration()     // the collector thread on, as users run it
        configuration.params = params
        configuration.policy = policy
        configuration.pinThreads = pinned
        configuration.striping = striping
        configuration.timeLimit = .seconds(60)
        let result = try Workload.run(checked, configuration: configuration)
        XCTAssertTrue(result.ok, "\(path) (\(policy)): \(result.error.map(String.init(describing:)) ?? "")", file: file, line: line)
        XCTAssertEqual(result.leaked, 0, "\(path) (\(policy)) leaked", file: file, line: line)
        XCTAssertEqual(result.heapProblems, [], "\(path) (\(policy)): the heap verifier", file: file, line: line)
        for expect in result.expects {
            XCTAssertEqual(expect.failed, 0, "\(path):\(expect.line): \(expect.condition)", file: file, line: line)
        }
        return result
    }

    func testEveryLibraryWorkloadRunsAtItsSmallSizeUnderEveryPolicy() throws {
        for workload in workloadLibrary {
            for policy in RefCountPolicyKind.allCases {
                let result = try run(workload.file, params: workload.small, policy: policy)
                XCTAssertTrue(result.expects.contains { $0.passed > 0 }, "\(workload.file): some expect ran")
            }
        }
    }

    func testSlotStoresIntoAnUnpublishedBoxHoldTheSameExpects() throws {
        let result = try run("slot-stores.hw", params: ["n": 1000, "published": 0])
        XCTAssertEqual(result.expects.map(\.passed), [1, 1])
    }

    func testThreadsPinnedToCPUsRunTheSame() throws {
        let result = try run("shared-refcount.hw", params: ["threads": 3, "iterations": 2000], pinned: true)
        XCTAssertEqual(result.threads.count, 4)
    }

    /// Two threads loading one global: its object (and its slot's) turn hot and are striped, the
    /// counts are back to their base at the end (the workload's expects), and every object is
    /// freed; with striping off nothing is.
    func testSharedRefcountStripesItsHotObjectsUnlessStripingIsOff() throws {
        let striped = try run("shared-refcount.hw", params: ["threads": 2, "iterations": 20_000])
        XCTAssertEqual(striped.striping, "adaptive")
        XCTAssertGreaterThan(striped.stripedObjects ?? 0, 0)
        let off = try run("shared-refcount.hw", params: ["threads": 2, "iterations": 20_000], striping: .off)
        XCTAssertEqual(off.striping, "off")
        XCTAssertEqual(off.stripedObjects, 0)
        let mine = try run("shared-refcount.hw", params: ["threads": 2, "iterations": 20_000, "private": 1])
        XCTAssertEqual(mine.stripedObjects, 0, "objects a thread uses only as their owner are never striped")
    }

    func testEverySeedFileHoldsItsExpects() throws {
        let seeds = try FileManager.default.contentsOfDirectory(atPath: WorkloadRunTests.root.appendingPathComponent("seed").path)
            .filter { $0.hasSuffix(".hw") }.sorted()
        XCTAssertFalse(seeds.isEmpty)
        for seed in seeds {
            let result = try run("seed/" + seed)
            XCTAssertTrue(result.expects.allSatisfy { $0.passed > 0 }, "seed/\(seed): every expect ran and held")
        }
    }

    func testBinaryTreesAtDepthTenPrintsTheReferenceOutput() throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/binary-trees-10.spaces.txt")
        let expected = try String(contentsOf: fixture, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(try run("binary-trees.hw", params: ["depth": 10]).output, expected)
    }

    func testBinaryTreesAndCycleChurnPrintTheSameOnAnyNumberOfThreads() throws {
        let one = try run("binary-trees.hw", params: ["depth": 8]).output
        XCTAssertEqual(try run("binary-trees.hw", params: ["depth": 8, "threads": 3]).output, one)
        let churn = try run("cycle-churn.hw", params: ["cycles": 5000, "threads": 1]).output
        XCTAssertEqual(try run("cycle-churn.hw", params: ["cycles": 5000, "threads": 2]).output, churn)
    }

    func testBinaryTreesChecksumsAtOtherDepths() throws {
        for depth: Int64 in [4, 6, 9] {
            let output = try run("binary-trees.hw", params: ["depth": depth]).output
            // Each line's check is iterations × (2^(d+1) − 1); the stretch and long-lived trees'
            // are 2^(depth+2) − 1 and 2^(depth+1) − 1.
            XCTAssertEqual(output.first, "stretch tree of depth \(depth + 1) check: \((1 << (depth + 2)) - 1)")
            XCTAssertEqual(output.last, "long lived tree of depth \(depth) check: \((1 << (depth + 1)) - 1)")
            for line in output.dropFirst().dropLast() {
                let words = line.split(separator: " ")
                let iterations = Int64(words[0])!, treeDepth = Int64(words[4])!, check = Int64(words[6])!
                XCTAssertEqual(check, iterations * ((1 << (treeDepth + 1)) - 1), line)
            }
        }
    }
}
