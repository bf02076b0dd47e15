// The workload files: every file under workloads/ parses and checks, the seed files express the
// seed article's examples, binary-trees reads as the language was designed around it, and the
// library's files declare the benchmark sizes as their defaults and state what they check.

import Foundation
import HeapWorkload
import XCTest

final class WorkloadFileTests: XCTestCase {
    private static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("workloads")

    /// Every `.hw` file under workloads/, by path relative to it.
    private static func workloadFiles() -> [String] {
        let walker = FileManager.default.enumerator(atPath: root.path)
        var files: [String] = []
        while let path = walker?.nextObject() as? String {
            if path.hasSuffix(".hw") { files.append(path) }
        }
        return files.sorted()
    }

    private func load(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws -> CheckedProgram {
        let bytes = try [UInt8](Data(contentsOf: WorkloadFileTests.root.appendingPathComponent(path)))
        do {
            return try Program.parse(bytes: bytes, fileName: path)
        } catch {
            XCTFail("\(path) does not check:\n\(error.rendered())", file: file, line: line)
            throw error
        }
    }

    func testEveryWorkloadFileChecks() throws {
        let files = WorkloadFileTests.workloadFiles()
        XCTAssertTrue(files.contains("binary-trees.hw"))
        XCTAssertTrue(Set(files).isSuperset(of: [
            "seed/refcount.hw", "seed/del.hw", "seed/cycle.hw", "seed/gc-module.hw", "seed/generations.hw", "seed/weakref.hw",
        ]))
        for path in files { _ = try? load(path) }
    }

    func testSeedFilesSayWhichExampleTheyExpress() throws {
        for path in WorkloadFileTests.workloadFiles() where path.hasPrefix("seed/") {
            let text = try String(contentsOf: WorkloadFileTests.root.appendingPathComponent(path), encoding: .utf8)
            XCTAssertTrue(text.hasPrefix("# Seed article, \""), "\(path) should open with the article example it expresses")
            XCTAssertTrue(text.contains("expect "), "\(path) should state what the article says with expect")
        }
    }

    func testBinaryTreesAsGiven() throws {
        let program = try load("binary-trees.hw").program
        XCTAssertEqual(program.params.map(\.name), ["depth", "threads"])
        XCTAssertEqual(program.functions.map(\.name), ["make", "check", "trees"])
        XCTAssertEqual(program.functions[0].locals.map(\.name), ["d", "n"])
        XCTAssertEqual(program.functions[0].locals[1].knownType, 0)
        XCTAssertEqual(program.main?.locals.map(\.name), ["long", "d", "iters", "total", "workers", "share", "t"])
        XCTAssertEqual(SyntaxDump.dump(program.functions[1].body),
                       "{(if ((== (. n@local0 left@byName) none) {(return 1)})); (return (+ (+ 1 (call check@fn1 (. n@local0 left@byName))) (call check@fn1 (. n@local0 right@byName))))}")
    }

    func testLibraryFilesDeclareTheirSizesAndChecks() throws {
        let files = Set(WorkloadFileTests.workloadFiles())
        for workload in workloadLibrary {
            XCTAssertTrue(files.contains(workload.file), "\(workload.file) is missing")
            let checked = try load(workload.file)
            let program = checked.program
            XCTAssertEqual(program.params.map(\.name), workload.defaults.map(\.key), workload.file)
            XCTAssertEqual(checked.defaultConstants.params, workload.defaults.map(\.value), workload.file)
            XCTAssertNoThrow(try checked.constants(overrides: workload.small), workload.file)
            let text = try String(contentsOf: WorkloadFileTests.root.appendingPathComponent(workload.file), encoding: .utf8)
            let header = text.split(separator: "\n", omittingEmptySubsequences: false).prefix { $0.hasPrefix("#") }.joined(separator: "\n")
            XCTAssertGreaterThan(header.count, 200, "\(workload.file) should open with a header comment")
            XCTAssertTrue(header.contains("Params:") && header.contains("Checks:"), "\(workload.file): the header says what its params mean and what it checks")
            XCTAssertTrue(text.contains("\n    expect ") || text.contains("\n        expect "), "\(workload.file) should check its results with expect")
            XCTAssertTrue(text.contains("phase \""), "\(workload.file) should mark its timed sections with phase")
        }
    }

    func testLarsonSizeBands() throws {
        // The middle sizes of the eight equal bands of 8 ..< 1000 bytes.
        XCTAssertEqual(try load("larson.hw").defaultConstants.payloads, [70, 194, 318, 442, 566, 690, 814, 938])
    }

    func testBinaryTreesReferenceOutput() throws {
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
        let official = try String(contentsOf: fixtures.appendingPathComponent("binary-trees-10.txt"), encoding: .utf8)
        let spaces = try String(contentsOf: fixtures.appendingPathComponent("binary-trees-10.spaces.txt"), encoding: .utf8)
        XCTAssertEqual(official.split(separator: "\n").count, 6)
        XCTAssertTrue(official.hasPrefix("stretch tree of depth 11\t check: 4095\n"))
        XCTAssertEqual(official.replacingOccurrences(of: "\t ", with: " "), spaces, "one space where the official output has a tab and a space")
        XCTAssertFalse(spaces.contains("\t"))
    }

    func testRefcountSeed() throws {
        let dump = SyntaxDump.dump(try load("seed/refcount.hw").program)
        XCTAssertTrue(dump.contains("(= b@local1 a@local0); (print (call refcount@builtin a@local0)); (expect (== (call refcount@builtin a@local0) 2)"), dump)
        XCTAssertTrue(dump.contains("(del b@local1)"), dump)
    }

    func testCycleSeed() throws {
        let dump = SyntaxDump.dump(try load("seed/cycle.hw").program)
        XCTAssertTrue(dump.contains("(= (. a@local0 ref@0.0) b@local1); (= (. b@local1 ref@0.0) a@local0)"), dump)
        XCTAssertTrue(dump.contains("(= found@local4 (call gc.collect@builtin))"), dump)
    }

    func testWeakrefSeed() throws {
        let dump = SyntaxDump.dump(try load("seed/weakref.hw").program)
        XCTAssertTrue(dump.contains("(= weak_ref@local1 (call weak@builtin obj@local0))"), dump)
        XCTAssertTrue(dump.contains("(del obj@local0); (print (call deref@builtin weak_ref@local1)); (expect (== (call deref@builtin weak_ref@local1) none)"), dump)
    }
}
