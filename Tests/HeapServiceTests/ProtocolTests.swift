// Protocol: what heapctl reads of a heapd older than itself — a protocol 2 heapd's result,
// without the fields results and responses have gained since, still decodes, the new fields
// absent — and the codes and ops as the wire spells them.

import Foundation
@testable import HeapService
import HeapWorkload
import Testing

@Suite struct ProtocolTests {
    /// Result fields a protocol 2 heapd did not send.
    private static let sinceProtocol2 = ["peakHeapBytes", "warnings", "warningCount", "droppedOutputLines"]
    private static let collectorSinceProtocol2 = [
        "mode", "pauseBuckets", "totalConcurrentMilliseconds", "collectorCPUMilliseconds", "tentative", "validated", "dropped",
        "safepointP50Milliseconds", "safepointP99Milliseconds", "safepointMaxMilliseconds",
        "mutatorPauseP50Milliseconds", "mutatorPauseP99Milliseconds", "mutatorPauseMaxMilliseconds",
    ]

    @Test func aProtocol2ResultStillDecodes() throws {
        var configuration = RunConfiguration()
        configuration.maxOutputBytes = 4
        let result = try Workload.run(try Program.parse(source: "main { print 1\nprint 22\nprint 333 }", fileName: "old.hw"),
                                      configuration: configuration)
        var fields = try #require(try JSONSerialization.jsonObject(with: try JSONEncoder().encode(result)) as? [String: Any])
        #expect(Set(Self.sinceProtocol2).isSubset(of: fields.keys))
        for key in Self.sinceProtocol2 { fields.removeValue(forKey: key) }
        var collector = try #require(fields["collector"] as? [String: Any])
        #expect(Set(Self.collectorSinceProtocol2).isSubset(of: collector.keys))
        for key in Self.collectorSinceProtocol2 { collector.removeValue(forKey: key) }
        fields["collector"] = collector
        // Nor did its responses carry run, recorded, journalError or droppedEvents.
        let line = try JSONSerialization.data(withJSONObject: ["id": 1, "type": "result", "result": fields])
        let response = try JSONDecoder().decode(Response.self, from: line)
        let old = try #require(response.result)
        #expect(old.output == result.output && old.file == "old.hw" && old.ok)
        #expect(old.droppedOutputLines == nil && old.warnings.isEmpty && old.warningCount == 0 && old.peakHeapBytes == 0)
        #expect(old.collector.mode == "" && old.collector.pauseBuckets.isEmpty && old.collector.safepointMaxMilliseconds == 0)
        #expect(old.collector.collections == result.collector.collections)
        #expect(response.run == nil && response.recorded == nil && response.droppedEvents == nil && response.journalError == nil)
        // What protocol 2 had is still required.
        fields.removeValue(forKey: "wallSeconds")
        let broken = try JSONSerialization.data(withJSONObject: ["id": 1, "type": "result", "result": fields])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Response.self, from: broken) }
    }

    @Test func aResultDecodesAsItWasEncoded() throws {
        var configuration = RunConfiguration()
        configuration.maxOutputBytes = 4
        let result = try Workload.run(try Program.parse(source: "main { print 1\nprint 22\nprint 333\nprint 4444 }", fileName: "new.hw"),
                                      configuration: configuration)
        let again = try JSONDecoder().decode(RunResult.self, from: try JSONEncoder().encode(result))
        #expect(again.droppedOutputLines == 3 && again.output == result.output)
        #expect(again.collector == result.collector && again.peakHeapBytes == result.peakHeapBytes)
    }

    @Test func codesAndOpsAreSpelledAsTheDocsSpellThem() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let docs = try String(contentsOf: root.appendingPathComponent("docs/protocol.md"), encoding: .utf8)
        for code in ErrorCode.allCases { #expect(docs.contains("| `\(code.rawValue)` |"), "\(code.rawValue) is not in the table of errors") }
        for op in Op.allCases { #expect(docs.contains("| `\(op.rawValue)` |"), "\(op.rawValue) is not in the table of ops") }
        #expect(protocolVersion == "heapd 0.3 (protocol 3)" && docs.contains(protocolVersion))
    }
}
