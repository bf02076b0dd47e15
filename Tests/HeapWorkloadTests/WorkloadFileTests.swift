// The workload files: every file under workloads/ parses and checks, the seed files express the
// seed article's examples, and binary-trees reads as the language was designed around it.

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
        XCTAssertEqual(program.params.map(\.name), ["depth"])
        XCTAssertEqual(program.functions.map(\.name), ["make", "check"])
        XCTAssertEqual(program.functions[0].locals.map(\.name), ["d", "n"])
        XCTAssertEqual(program.functions[0].locals[1].knownType, 0)
        XCTAssertEqual(program.main?.locals.map(\.name), ["long", "d", "iters", "total"])
        XCTAssertEqual(SyntaxDump.dump(program.functions[1].body),
                       "{(if ((== (. n@local0 left@byName) none) {(return 1)})); (return (+ (+ 1 (call check@fn1 (. n@local0 left@byName))) (call check@fn1 (. n@local0 right@byName))))}")
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
