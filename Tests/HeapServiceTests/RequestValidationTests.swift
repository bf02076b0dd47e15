// Request+Validation, in process: the scan that finds numbers past a double's range (which the
// JSON readers refuse outright) names the field of each, whatever strings, escapes and nesting
// stand around it, and the decoding failure then names it as every other bad number is named.

import Foundation
@testable import HeapService
import Testing

@Suite struct RequestValidationTests {
    private func paths(_ line: String) -> [String] {
        Request.numbersPastADouble(in: Array(line.utf8)).map(\.path)
    }

    @Test func numbersPastADoubleAreFoundByTheirField() {
        #expect(paths(#"{"op": "run", "timeLimitSeconds": 1e400}"#) == ["timeLimitSeconds"])
        #expect(paths(#"{"op":"run","params":{"a":1,"depth":-1E+400},"seed":2e999}"#) == ["params.depth", "seed"])
        #expect(paths(#"{"thresholds": [1, 2e308, [3, 4e400]]}"#) == ["thresholds.1", "thresholds.2.1"])
        // Numbers a double holds, and digits inside strings and keys, are not.
        #expect(paths(#"{"op": "ping", "n": 1e308, "m": -1e-400, "s": "1e400", "1e400": 0, "e\"1e400": "\\"}"#) == [])
        #expect(paths(#"{"we\"ird": 1e400}"#) == [#"we"ird"#])
        // Nesting past what the decoders take: bad_json whatever its numbers.
        #expect(paths(String(repeating: "[", count: 600) + "1e400") == [])
        // Malformed lines are scanned all the same (the decoding failure then finds them bad_json).
        #expect(paths(#"{"op": "run", "timeLimitSeconds": 1e400"#) == ["timeLimitSeconds"])
    }

    @Test func aNumberPastADoubleIsABadRequestNamingItsField() throws {
        func failure(_ line: String) -> (id: RequestID?, error: CodedError) {
            do {
                _ = try JSONDecoder().decode(Request.self, from: Data(line.utf8))
                return (nil, CodedError(.internal, "decoded"))
            } catch {
                return Request.decodingFailure(error, line: line)
            }
        }
        let huge = failure(#"{"id": 7, "op": "run", "source": "main { }", "timeLimitSeconds": 1e400}"#)
        #expect(huge.id == .number(7) && huge.error.code == .badRequest)
        #expect(huge.error.message.contains("field timeLimitSeconds "))
        #expect(failure(#"{"id": 1e400, "op": "ping"}"#).id == nil)
        #expect(failure(#"{"id": 1e400, "op": "ping"}"#).error.code == .badRequest)
        #expect(failure(#"{"id": 7, "timeLimitSeconds": 1e400}"#).error.code == .badJSON)
        #expect(failure(#"{"id": 7, "op": 1e400}"#).error.code == .badJSON)
        #expect(failure(#"{"id": 7, "op": "run", "timeLimitSeconds": 1e400,}"#).error.code == .badRequest)
        #expect(failure(#"{"id": 7, "op": "run", "timeLimitSeconds": 1e400 x}"#).error.code == .badJSON)
    }
}
