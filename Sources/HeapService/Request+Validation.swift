// Request+Validation: what makes a request line bad before any op looks at it.
//
//   bad_json      the line is not JSON, not an object, or has no string `op`
//   bad_request   a field has the wrong type or a number that does not fit it (`"heapLimitMiB":
//                 1e300`, `"seed": -1`, `"params": {"depth": 1.5}`, `"timeLimitSeconds": 1e400`),
//                 or a number out of its range — every message names the field
//
// A number past a double's range (`1e400`) is not JSON that Foundation's decoders read at all:
// the line is scanned for such numbers (`numbersPastADouble`), and when it is a request once they
// are read as 0, the first is the field named.
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

    /// Why `line` did not decode: its id when that much could be read, and the error, whose
    /// message names the field at fault when there is one.
    static func decodingFailure(_ error: any Error, line: String) -> (id: RequestID?, error: CodedError) {
        var data = Data(line.utf8)
        // Numbers past a double's range, read as 0: what else is wrong, if anything, shows then.
        let huge = numbersPastADouble(in: Array(line.utf8))
        for number in huge.reversed() { data.replaceSubrange(number.range, with: [UInt8(ascii: "0")]) }
        let id = (try? JSONDecoder().decode(Identified.self, from: data))?.id
        let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        guard let op = object?["op"] as? String else {
            return (id, CodedError(.badJSON, "the request is not a JSON object with an op: \(error)"))
        }
        if let first = huge.first {
            return (first.path == "id" ? nil : id,
                    CodedError(.badRequest, "field \(first.path) holds a number past a double's range, which no field can hold"))
        }
        // The decoder names the field of a wrong type, but not always that of a number its type
        // cannot hold (`"seed": -1`, `1e300`): then fields are tried one at a time to find it.
        var field = (error as? DecodingError).flatMap(Request.codingPath) ?? ""
        if field.isEmpty, let object { field = Request.fieldThatDoesNotDecode(in: object, op: op) ?? "" }
        guard !field.isEmpty, field != "op" else {
            return (id, CodedError(.badJSON, "the request is not a JSON object with an op: \(error)"))
        }
        return (field == "id" ? nil : id, CodedError(.badRequest, "field \(field) has a value of the wrong type, or a number its type cannot hold"))
    }

    /// Nesting past this is refused by the JSON decoders (Foundation's limit, 512).
    static let maximumDepth = 512

    /// The numbers of `line` past a double's range, by the dotted path of the field that holds
    /// each (`timeLimitSeconds`, `params.depth`, `thresholds.0`) and the bytes it takes, in the
    /// order they come. A scan of the JSON's structure that tolerates malformed lines (what it
    /// makes of one does not matter: the line is then bad_json anyway).
    static func numbersPastADouble(in line: [UInt8]) -> [(path: String, range: Range<Int>)] {
        enum Container {
            case object(key: String, expectingKey: Bool)
            case array(index: Int)
        }
        var containers: [Container] = [], found: [(path: String, range: Range<Int>)] = []
        var index = 0
        while index < line.count {
            let byte = line[index]
            // Deeper than the decoders go: the line is bad_json whatever its numbers.
            guard containers.count <= Request.maximumDepth else { return [] }
            switch byte {
            case UInt8(ascii: "{"): containers.append(.object(key: "", expectingKey: true))
            case UInt8(ascii: "["): containers.append(.array(index: 0))
            case UInt8(ascii: "}"), UInt8(ascii: "]"): _ = containers.popLast()
            case UInt8(ascii: ","), UInt8(ascii: ":"):
                switch containers.last {
                case .object(let key, _): containers[containers.count - 1] = .object(key: key, expectingKey: byte == UInt8(ascii: ","))
                case .array(let position) where byte == UInt8(ascii: ","): containers[containers.count - 1] = .array(index: position + 1)
                default: break
                }
            case UInt8(ascii: "\""):
                var end = index + 1
                while end < line.count && line[end] != UInt8(ascii: "\"") { end += line[end] == UInt8(ascii: "\\") ? 2 : 1 }
                if case .object(_, true) = containers.last {
                    let token = Data(line[index..<min(end + 1, line.count)])
                    let key = (try? JSONDecoder().decode(String.self, from: token)) ?? String(decoding: line[(index + 1)..<min(end, line.count)], as: UTF8.self)
                    containers[containers.count - 1] = .object(key: key, expectingKey: false)
                }
                index = end
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                var end = index + 1
                while end < line.count, "0123456789+-.eE".utf8.contains(line[end]) { end += 1 }
                if let value = Double(String(decoding: line[index..<end], as: UTF8.self)), value.isInfinite {
                    let path = containers.map { container in
                        switch container {
                        case .object(let key, _): key
                        case .array(let position): String(position)
                        }
                    }
                    found.append((path.joined(separator: "."), index..<end))
                }
                index = end - 1
            default: break
            }
            index += 1
        }
        return found
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
