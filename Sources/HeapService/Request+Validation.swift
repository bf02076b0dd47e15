// Request+Validation: what makes a request line bad before any op looks at it.
//
//   bad_json      the line is not JSON, not an object, or has no string `op`
//   bad_request   a field has the wrong type or a number that does not fit it (`"heapLimitMiB":
//                 1e300`, `"seed": -1`, `"params": {"depth": 1.5}`), or a number out of its range
//                 — every message names the field
//
// Every numeric field is checked here, whatever the op, against the ranges below and the
// daemon's maximums, so that no conversion further on can trap on a client's value. These bound
// every caller; members of the allowed group are held to the defaults before (Access.swift).
//
//   field             range
//   heapLimitMiB      1 ... max_heap_limit_mib
//   timeLimitSeconds  above 0, at most max_time_limit_seconds (finite)
//   threads           1 ... max_threads
//   generation        0 ... 2
//   thresholds        one to three of 0 ... 2^31 − 1
//   limit             1 ... the journal's historyEntries (1,000): the runs `history` can answer from
//   seed, params, id, target: any value of their type (params are checked against the program)

import Foundation

extension Request {
    /// The first numeric field out of its range, as the message of a bad_request; nil when
    /// every field is in range. `historyLimit`: what `limit` may be (Service.historyLimitRange).
    func rangeProblem(_ configuration: ServiceConfiguration, historyLimit: ClosedRange<Int>) -> String? {
        if let mebibytes = heapLimitMiB, !(1...configuration.maxHeapLimitMiB).contains(mebibytes) {
            return "heapLimitMiB is 1 to \(configuration.maxHeapLimitMiB) (the daemon's max_heap_limit_mib), not \(mebibytes)"
        }
        if let seconds = timeLimitSeconds, !(seconds > 0 && seconds <= configuration.maxTimeLimitSeconds) {
            return "timeLimitSeconds is above 0 and at most \(configuration.maxTimeLimitSeconds) (the daemon's max_time_limit_seconds), not \(seconds)"
        }
        if let threads, !(1...configuration.maxThreads).contains(threads) {
            return "threads is 1 to \(configuration.maxThreads) (the daemon's max_threads), not \(threads)"
        }
        if let generation, !(0...2).contains(generation) {
            return "generation is 0, 1 or 2, not \(generation)"
        }
        if let thresholds, !(1...3).contains(thresholds.count) || !thresholds.allSatisfy(Service.thresholdRange.contains) {
            return "thresholds is one to three integers from 0 to \(Service.thresholdRange.upperBound), not \(thresholds)"
        }
        if let limit, !historyLimit.contains(limit) {
            return "limit is \(historyLimit.lowerBound) to \(historyLimit.upperBound), not \(limit)"
        }
        return nil
    }

    /// Why `line` did not decode: its id when that much could be read, the code, and a message
    /// that names the field at fault.
    static func decodingFailure(_ error: any Error, line: String) -> (id: RequestID?, code: String, message: String) {
        let data = Data(line.utf8)
        let id = (try? JSONDecoder().decode(Identified.self, from: data))?.id
        // The decoder names the field of a wrong type, but not always that of a number its type
        // cannot hold (`"seed": -1`, `1e300`): then fields are tried one at a time to find it.
        var field = (error as? DecodingError).flatMap(Request.codingPath) ?? ""
        if field.isEmpty, let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let op = object["op"] as? String {
            field = Request.fieldThatDoesNotDecode(in: object, op: op) ?? ""
        }
        guard !field.isEmpty, field != "op" else {
            return (id, "bad_json", "the request is not a JSON object with an op: \(error)")
        }
        return (field == "id" ? nil : id, "bad_request", "field \(field) has a value of the wrong type, or a number its type cannot hold")
    }

    /// The dotted path of the field a decoding error is about ("" when it says none).
    private static func codingPath(_ error: DecodingError) -> String? {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context), .keyNotFound(_, let context):
            return context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
        @unknown default:
            return nil
        }
    }

    /// The first field of `object` (a request line read as JSON) that does not decode with `op`
    /// alone beside it, one level into objects (`params.depth`).
    private static func fieldThatDoesNotDecode(in object: [String: Any], op: String) -> String? {
        func decodes(_ fields: [String: Any]) -> Bool {
            guard let data = try? JSONSerialization.data(withJSONObject: fields.merging(["op": op]) { $1 }) else { return false }
            return (try? JSONDecoder().decode(Request.self, from: data)) != nil
        }
        for key in object.keys.sorted() where key != "op" && !decodes([key: object[key]!]) {
            if let inner = object[key] as? [String: Any] {
                for innerKey in inner.keys.sorted() where !decodes([key: [innerKey: inner[innerKey]!]]) { return key + "." + innerKey }
            }
            return key
        }
        return nil
    }
}

/// A request's id alone, to answer a line that did not decode with it.
private struct Identified: Decodable {
    var id: RequestID?
}
