// The real heapd against a hostile client (issue 14): one heapd takes every kind of bad input
// below, and after each kind it must be the same process (its pid, read once by SO_PEERCRED),
// answer `ping` on a new connection, and have every run that started in its journal as finished
// or interrupted. Each bad line must get its documented code (docs/protocol.md, "Hostile
// clients", lists them all).
//
//   lines     malformed JSON at every level (top, params, arrays), truncated, not an object,
//             deep nesting; every field of every op with a value of the wrong type; numbers
//             negative, zero, huge and non-finite; unknown ops and fields, duplicate keys; NUL
//             bytes, invalid UTF-8, blank lines, CRLF and lone CR; a line of exactly 1 MiB and
//             longer ones; cancel, exec, gc and history misuse
//   programs  100 KiB+ programs, 65,000 types, nesting far past the parser's limit, syntax and
//             check errors, every run-time limit, every library workload with its params at
//             their extremes
//   clients   a line a byte at a time, a half line left hanging, hundreds of idle connections
//             and the per-user cap, lines pipelined and never read, binary garbage, a run flood
//             past the queue, exclusive runs piled up, a streamed run never read, clients that
//             leave mid-run (closed, reset, half-closed then closed), a detached run that
//             outlives its client, cancel and exec abuse, a member of the allowed group asking for `shutdown`,
//             a stranger
//   restart   kill -9 mid-run, then a heapd on the same state directory: the runs are interrupted
//
// Tests never assert times: the timeouts here only keep a hung heapd from hanging the suite.

import Foundation
import HeapService
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// What a bad line must get back.
private enum Answer {
    /// One error with this code (and, for a run error, this detail).
    case error(String, detail: String? = nil)
    /// A field of the wrong type, or a number its type cannot hold: `bad_json` from this heapd,
    /// `bad_request` naming the field once requests are checked field by field.
    case wrongType
    /// A response of this type: what heapd tolerates.
    case accepted(String)
    /// A result, or an error with one of the documented codes.
    case settled
    /// Nothing at all: blank lines are skipped.
    case nothing
}

/// The codes docs/protocol.md lists.
private let documentedCodes: Set<String> = [
    "bad_json", "unknown_op", "request_too_large", "bad_request", "parse_error", "check_error", "expect_failed", "heap_limit",
    "time_limit", "cancelled", "run_error", "busy", "shutting_down", "not_recorded", "forbidden", "too_many_connections",
    "idle_timeout", "internal",
]

/// One bad line (sent with a newline after it) and what it must get.
private struct BadLine {
    var kind: String
    var bytes: [UInt8]
    var answer: Answer
    /// The line's id is "bad", and the answer must carry it.
    var echoesID = false
}

/// `{"id": "bad", FIELDS}`.
private func bad(_ kind: String, _ fields: String, _ answer: Answer) -> BadLine {
    BadLine(kind: kind, bytes: Array(#"{"id": "bad", \#(fields)}"#.utf8), answer: answer, echoesID: true)
}

private func raw(_ kind: String, _ bytes: [UInt8], _ answer: Answer) -> BadLine {
    BadLine(kind: kind, bytes: bytes, answer: answer)
}

private func raw(_ kind: String, _ text: String, _ answer: Answer) -> BadLine {
    raw(kind, Array(text.utf8), answer)
}

/// A run of `source`, encoded as a client would.
private func program(_ kind: String, _ source: String, _ answer: Answer, _ configure: (inout Request) -> Void = { _ in }) -> BadLine {
    var request = Request(id: .string("bad"), op: "run")
    request.source = source
    configure(&request)
    return BadLine(kind: kind, bytes: Array(try! JSONEncoder().encode(request)), answer: answer, echoesID: true)
}

// MARK: The tables

private func malformedLines() -> [BadLine] {
    let nul: [UInt8] = [0]
    let deep = 100_000
    return [
        raw("not JSON at all", "this is not json", .error("bad_json")),
        raw("a lone opening brace", "{", .error("bad_json")),
        raw("a lone closing brace", "}", .error("bad_json")),
        raw("truncated after a value", #"{"id": 1, "op": "ping""#, .error("bad_json")),
        raw("truncated inside a string", #"{"id": 1, "op": "pi"#, .error("bad_json")),
        raw("truncated inside a key", #"{"id": 1, "o"#, .error("bad_json")),
        raw("truncated after a colon", #"{"id": 1, "op":"#, .error("bad_json")),
        raw("a missing value", #"{"id": 1, "op": }"#, .error("bad_json")),
        raw("a missing colon", #"{"id": 1, "op" "ping"}"#, .error("bad_json")),
        raw("single quotes", "{'id': 1, 'op': 'ping'}", .error("bad_json")),
        raw("unquoted keys", #"{id: 1, op: "ping"}"#, .error("bad_json")),
        raw("two objects on one line", #"{"op": "ping"} {"op": "ping"}"#, .error("bad_json")),
        raw("an extra closing brace", #"{"op": "ping"}}"#, .error("bad_json")),
        raw("garbage after the object", #"{"op": "ping"} x"#, .error("bad_json")),
        raw("params: a missing value", #"{"id": 1, "op": "run", "source": "main { }", "params": {"depth": }}"#, .error("bad_json")),
        raw("params: a missing colon", #"{"id": 1, "op": "run", "source": "main { }", "params": {"depth" 3}}"#, .error("bad_json")),
        raw("params: a double comma", #"{"id": 1, "op": "run", "source": "main { }", "params": {"depth": 3,, "x": 1}}"#, .error("bad_json")),
        raw("params: truncated", #"{"id": 1, "op": "run", "source": "main { }", "params": {"depth": 3"#, .error("bad_json")),
        raw("array: an empty element", #"{"id": 1, "op": "gc", "action": "threshold", "thresholds": [1,,2]}"#, .error("bad_json")),
        raw("array: a missing comma", #"{"id": 1, "op": "gc", "action": "threshold", "thresholds": [1 2]}"#, .error("bad_json")),
        raw("array: truncated", #"{"id": 1, "op": "gc", "action": "threshold", "thresholds": [1, "#, .error("bad_json")),
        raw("array: closed by a brace", #"{"id": 1, "op": "ping", "x": [[[]]}"#, .error("bad_json")),
        raw("an unterminated escape", #"{"id": 1, "op": "ping\"}"#, .error("bad_json")),
        raw("an unknown escape", #"{"id": 1, "op": "pi\qng"}"#, .error("bad_json")),
        raw("a short unicode escape", #"{"id": 1, "op": "pi\u12"}"#, .error("bad_json")),
        raw("a raw tab inside a string", "{\"id\": 1, \"op\": \"pi\tng\"}", .error("bad_json")),
        // Numbers JSON does not have.
        raw("NaN", #"{"id": 1, "op": "run", "source": "main { }", "timeLimitSeconds": NaN}"#, .error("bad_json")),
        raw("Infinity", #"{"id": 1, "op": "run", "source": "main { }", "timeLimitSeconds": Infinity}"#, .error("bad_json")),
        raw("-Infinity", #"{"id": 1, "op": "run", "source": "main { }", "timeLimitSeconds": -Infinity}"#, .error("bad_json")),
        raw("a hexadecimal number", #"{"id": 1, "op": "run", "source": "main { }", "heapLimitMiB": 0x10}"#, .error("bad_json")),
        raw("a leading zero", #"{"id": 1, "op": "run", "source": "main { }", "heapLimitMiB": 010}"#, .error("bad_json")),
        raw("a leading plus", #"{"id": 1, "op": "run", "source": "main { }", "heapLimitMiB": +1}"#, .error("bad_json")),
        raw("a bare fraction", #"{"id": 1, "op": "run", "source": "main { }", "timeLimitSeconds": .5}"#, .error("bad_json")),
        raw("a trailing point", #"{"id": 1, "op": "run", "source": "main { }", "timeLimitSeconds": 1.}"#, .error("bad_json")),
        raw("a bare exponent", #"{"id": 1, "op": "run", "source": "main { }", "timeLimitSeconds": 1e}"#, .error("bad_json")),
        // Not an object, or an object without a string op.
        raw("an empty array", "[]", .error("bad_json")),
        raw("an array holding a request", #"[{"op": "ping"}]"#, .error("bad_json")),
        raw("a string", #""ping""#, .error("bad_json")),
        raw("a number", "42", .error("bad_json")),
        raw("minus zero", "-0", .error("bad_json")),
        raw("null", "null", .error("bad_json")),
        raw("true", "true", .error("bad_json")),
        raw("an empty object", "{}", .error("bad_json")),
        raw("an object without an op", #"{"id": 1}"#, .error("bad_json")),
        bad("op: null", #""op": null"#, .error("bad_json")),
        bad("op: a number", #""op": 5"#, .error("bad_json")),
        bad("op: an array", #""op": ["ping"]"#, .error("bad_json")),
        bad("op: an object", #""op": {"name": "ping"}"#, .error("bad_json")),
        bad("op: a boolean", #""op": true"#, .error("bad_json")),
        // Nesting past the JSON decoder's depth limit, and within it.
        raw("arrays nested 100,000 deep", #"{"op": "ping", "x": "# + String(repeating: "[", count: deep) + String(repeating: "]", count: deep) + "}",
            .error("bad_json")),
        raw("params nested 50,000 deep", #"{"op": "run", "source": "main { }", "params": "# + String(repeating: #"{"a": "#, count: deep / 2) + "1"
            + String(repeating: "}", count: deep / 2) + "}", .error("bad_json")),
        raw("100,000 arrays never closed", #"{"op": "ping", "x": "# + String(repeating: "[", count: deep), .error("bad_json")),
        bad("arrays nested 400 deep in an unknown field", #""op": "ping", "x": "# + String(repeating: "[", count: 400) + String(repeating: "]", count: 400),
            .accepted("pong")),
        // NUL bytes and bytes that are not UTF-8.
        raw("a raw NUL inside a string", Array(#"{"id": 1, "op": "pi"#.utf8) + nul + Array(#"ng"}"#.utf8), .error("bad_json")),
        raw("a raw NUL after the object", Array(#"{"id": 1, "op": "ping"}"#.utf8) + nul, .error("bad_json")),
        raw("a raw NUL before the object", nul + Array(#"{"id": 1, "op": "ping"}"#.utf8), .error("bad_json")),
        raw("a line of NULs", [UInt8](repeating: 0, count: 4096), .error("bad_json")),
        bad("an escaped NUL in the op", #""op": "ping\u0000""#, .error("unknown_op")),
        raw("invalid UTF-8 outside strings", Array(#"{"id": 1, "op": "ping"}"#.utf8) + [0xFF], .error("bad_json")),
        BadLine(kind: "invalid UTF-8 in the op", bytes: Array(#"{"id": "bad", "op": "pi"#.utf8) + [0xFF] + Array(#"ng"}"#.utf8),
                answer: .error("unknown_op"), echoesID: true),
        BadLine(kind: "invalid UTF-8 in an unknown field", bytes: Array(#"{"id": "bad", "op": "ping", "x": ""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8),
                answer: .accepted("pong"), echoesID: true),
        BadLine(kind: "an overlong UTF-8 encoding", bytes: Array(#"{"id": "bad", "op": "ping", "x": ""#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8),
                answer: .accepted("pong"), echoesID: true),
        bad("a lone surrogate escape", #""op": "ping", "x": "\ud800""#, .accepted("pong")),
        raw("a UTF-8 byte order mark", [0xEF, 0xBB, 0xBF] + Array(#"{"id": 1, "op": "ping"}"#.utf8), .accepted("pong")),
        // Line endings.
        raw("an empty line", "", .nothing),
        raw("a line of spaces and tabs", "  \t  ", .nothing),
        raw("a lone CR", "\r", .nothing),
        BadLine(kind: "a CRLF line ending", bytes: Array("{\"id\": \"bad\", \"op\": \"ping\"}\r".utf8), answer: .accepted("pong"), echoesID: true),
        raw("two requests split by a lone CR", "{\"op\": \"ping\"}\r{\"op\": \"ping\"}", .error("bad_json")),
    ]
}

/// Unknown ops and fields, duplicate keys, odd ids, long strings and the line-length limit.
private func oddLines() -> [BadLine] {
    let limit = 1 << 20
    let padded = { (length: Int) -> [UInt8] in
        let head = #"{"id": "bad", "op": "ping", "pad": ""#, tail = #""}"#
        return Array((head + String(repeating: "x", count: length - head.utf8.count - tail.utf8.count) + tail).utf8)
    }
    return [
        bad("an unknown op", #""op": "frobnicate""#, .error("unknown_op")),
        bad("an empty op", #""op": """#, .error("unknown_op")),
        bad("an op in capitals", #""op": "PING""#, .error("unknown_op")),
        bad("an op with a space", #""op": " ping""#, .error("unknown_op")),
        bad("an op of 100 KiB", #""op": ""# + String(repeating: "o", count: 100 << 10) + #"""#, .error("unknown_op")),
        bad("unknown fields", #""op": "ping", "bogus": 1, "nested": {"a": [1, 2, {"b": null}]}, "n": 1e308"#, .accepted("pong")),
        bad("unknown fields on stats", #""op": "stats", "verbose": true"#, .accepted("stats")),
        bad("unknown fields on version", #""op": "version", "extra": [1]"#, .accepted("version")),
        bad("unknown fields on history", #""op": "history", "limit": 1, "since": 0"#, .accepted("history")),
        bad("duplicate op keys (the first wins)", #""op": "frobnicate", "op": "ping""#, .error("unknown_op")),
        bad("a trailing comma", #""op": "ping","#, .accepted("pong")),
        raw("id: null", #"{"id": null, "op": "ping"}"#, .accepted("pong")),
        raw("id: the smallest integer", #"{"id": -9223372036854775808, "op": "ping"}"#, .accepted("pong")),
        raw("id: a string of 200 KiB", #"{"id": ""# + String(repeating: "i", count: 200 << 10) + #"", "op": "ping"}"#, .accepted("pong")),
        bad("a string of 100,000 escapes", #""op": "ping", "x": ""# + String(repeating: #"\u0041"#, count: 100_000) + #"""#, .accepted("pong")),
        raw("a line of exactly max_request_bytes", padded(limit), .accepted("pong")),
        raw("a line one byte over max_request_bytes", padded(limit + 1), .error("request_too_large")),
        raw("a line of 4 MiB", padded(4 << 20), .error("request_too_large")),
    ]
}

/// Every field of every op with a value of the wrong type, and numbers their types cannot hold.
private func wrongTypeLines() -> [BadLine] {
    let others: [String: [(String, String)]] = [
        "run": [("source", #""main { }""#)], "gc": [("action", #""status""#)],
        "exec": [("session", #""hostile""#), ("source", #""x = 1""#)], "history": [], "cancel": [],
    ]
    let fields: [(op: String, field: String, values: [String])] = [
        ("run", "source", ["5", #"["main { }"]"#, "{}", "true"]),
        ("run", "workload", ["1", "true", #"["binary-trees"]"#]),
        ("run", "fileName", ["1", "[]"]),
        ("run", "params", ["[1]", #""depth=3""#, #"{"depth": "3"}"#, #"{"depth": 1.5}"#, #"{"depth": 1e300}"#, #"{"depth": [1]}"#,
                           #"{"depth": null}"#, #"{"depth": 9223372036854775808}"#]),
        ("run", "rc", ["1", #"["biased"]"#]),
        ("run", "collector", ["true", "2"]),
        ("run", "seed", ["-1", "1.5", #""1""#, "1e300", "18446744073709551616"]),
        ("run", "heapLimitMiB", [#""64""#, "1.5", "true", "1e300", "9223372036854775808"]),
        ("run", "timeLimitSeconds", [#""1""#, "true", "[1]", "{}", "1e400", "-1e400"]),
        ("run", "threads", [#""2""#, "2.5", "1e300"]),
        ("run", "stream", [#""yes""#, "1"]),
        ("run", "detach", [#""true""#, "1"]),
        ("run", "gc", [#""false""#, "0"]),
        ("run", "exclusive", ["1", #""true""#]),
        ("run", "heap", ["1", #"["shared"]"#]),
        ("gc", "action", ["5", "[]"]),
        ("gc", "generation", [#""1""#, "1.5"]),
        ("gc", "thresholds", [#""700""#, "[1.5]", "[[1]]", "7"]),
        ("gc", "collector", ["5"]),
        ("history", "limit", [#""5""#, "1.5", "true"]),
        ("cancel", "target", ["true", "1.5", "[]", "{}"]),
        ("exec", "session", ["5", "[]"]),
        ("exec", "source", ["5"]),
        ("exec", "reset", [#""yes""#, "1"]),
    ]
    var lines = fields.flatMap { row in
        row.values.map { value in
            let rest = others[row.op]!.filter { $0.0 != row.field }.map { #""\#($0.0)": \#($0.1)"# }
            let body = ([#""op": "\#(row.op)""#] + rest + [#""\#(row.field)": \#(value)"#]).joined(separator: ", ")
            return bad("\(row.op): \(row.field) = \(value)", body, .wrongType)
        }
    }
    for value in ["true", "1.5", "[1]", #"{"a": 1}"#, "99999999999999999999", String(repeating: "9", count: 100_000)] {
        lines.append(raw("id = \(value.prefix(24))", #"{"id": \#(value), "op": "ping"}"#, .wrongType))
    }
    return lines
}

/// Numbers out of their ranges, and requests each op refuses.
private func refusedLines() -> [BadLine] {
    let run = #""op": "run", "source": "main { }""#
    return [
        bad("heapLimitMiB = -1", run + #", "heapLimitMiB": -1"#, .error("bad_request")),
        bad("heapLimitMiB = 0", run + #", "heapLimitMiB": 0"#, .error("bad_request")),
        bad("heapLimitMiB = -0", run + #", "heapLimitMiB": -0"#, .error("bad_request")),
        bad("heapLimitMiB = Int.max", run + #", "heapLimitMiB": 9223372036854775807"#, .error("bad_request")),
        bad("heapLimitMiB = Int.min", run + #", "heapLimitMiB": -9223372036854775808"#, .error("bad_request")),
        bad("timeLimitSeconds = -1", run + #", "timeLimitSeconds": -1"#, .error("bad_request")),
        bad("timeLimitSeconds = 0", run + #", "timeLimitSeconds": 0"#, .error("bad_request")),
        bad("timeLimitSeconds = -0.0", run + #", "timeLimitSeconds": -0.0"#, .error("bad_request")),
        bad("timeLimitSeconds = 1e300", run + #", "timeLimitSeconds": 1e300"#, .error("bad_request")),
        bad("timeLimitSeconds = -1e300", run + #", "timeLimitSeconds": -1e300"#, .error("bad_request")),
        bad("threads = 0", run + #", "threads": 0"#, .error("bad_request")),
        bad("threads = -1", run + #", "threads": -1"#, .error("bad_request")),
        bad("threads = 257", run + #", "threads": 257"#, .error("bad_request")),
        bad("threads = Int.max", run + #", "threads": 9223372036854775807"#, .error("bad_request")),
        bad("a run with neither source nor workload", #""op": "run""#, .error("bad_request")),
        bad("a run with both source and workload", run + #", "workload": "binary-trees""#, .error("bad_request")),
        bad("an unknown workload", #""op": "run", "workload": "no-such-workload""#, .error("bad_request")),
        bad("an empty workload name", #""op": "run", "workload": """#, .error("bad_request")),
        bad("a workload path out of the library", #""op": "run", "workload": "../../../etc/passwd""#, .error("bad_request")),
        bad("a workload name with a NUL", #""op": "run", "workload": "binary-trees\u0000""#, .error("bad_request")),
        bad("an unknown rc", run + #", "rc": "optimistic""#, .error("bad_request")),
        bad("an unknown collector", run + #", "collector": "incremental""#, .error("bad_request")),
        bad("an unknown heap", run + #", "heap": "elsewhere""#, .error("bad_request")),
        bad("a param the program does not declare", run + #", "params": {"nosuch": 1}"#, .error("bad_request")),
        bad("10,000 params", run + #", "params": {"# + (0..<10_000).map { #""p\#($0)": \#($0)"# }.joined(separator: ", ") + "}",
            .error("bad_request")),
        bad("threads for a program without the param", run + #", "threads": 2"#, .error("bad_request")),
        bad("cancel without a target", #""op": "cancel""#, .error("bad_request")),
        bad("cancel of an unknown id", #""op": "cancel", "target": "nothing-of-that-name""#, .error("bad_request")),
        bad("cancel of its own id", #""op": "cancel", "target": "bad""#, .error("bad_request")),
        bad("exec without a session", #""op": "exec", "source": "x = 1""#, .error("bad_request")),
        bad("exec with an empty session name", #""op": "exec", "session": "", "source": "x = 1""#, .error("bad_request")),
        bad("exec with a session name of 129 bytes", #""op": "exec", "session": ""# + String(repeating: "s", count: 129) + #"", "source": "x = 1""#,
            .error("bad_request")),
        bad("exec without a source", #""op": "exec", "session": "hostile""#, .error("bad_request")),
        bad("exec of a piece over 64 KiB", #""op": "exec", "session": "hostile", "source": "x = 1 # "# + String(repeating: "p", count: 64 << 10) + #"""#,
            .error("bad_request")),
        bad("exec of a piece with a syntax error", #""op": "exec", "session": "hostile", "source": "x = ""#, .error("parse_error")),
        bad("exec of a piece that does not check", #""op": "exec", "session": "hostile", "source": "print nowhere""#, .error("check_error")),
        bad("exec reset of an unknown session", #""op": "exec", "session": "never-made", "reset": true"#, .accepted("exec")),
        bad("gc: an unknown action", #""op": "gc", "action": "defragment""#, .error("bad_request")),
        bad("gc: generation = -1", #""op": "gc", "action": "collect", "generation": -1"#, .error("bad_request")),
        bad("gc: generation = 3", #""op": "gc", "action": "collect", "generation": 3"#, .error("bad_request")),
        bad("gc: generation = Int.max", #""op": "gc", "action": "collect", "generation": 9223372036854775807"#, .error("bad_request")),
        bad("gc: threshold without thresholds", #""op": "gc", "action": "threshold""#, .error("bad_request")),
        bad("gc: no thresholds", #""op": "gc", "action": "threshold", "thresholds": []"#, .error("bad_request")),
        bad("gc: four thresholds", #""op": "gc", "action": "threshold", "thresholds": [1, 2, 3, 4]"#, .error("bad_request")),
        bad("gc: a negative threshold", #""op": "gc", "action": "threshold", "thresholds": [-1]"#, .error("bad_request")),
        bad("gc: an unknown collector", #""op": "gc", "action": "collector", "collector": "incremental""#, .error("bad_request")),
        bad("history: limit = -1", #""op": "history", "limit": -1"#, .error("bad_request")),
        bad("history: limit = Int.max", #""op": "history", "limit": 9223372036854775807"#, .error("bad_request")),
        bad("history: limit = Int.min", #""op": "history", "limit": -9223372036854775808"#, .error("bad_request")),
    ]
}

/// Programs: huge, deep, wrong, and every way a run can end badly.
private func programLines() -> [BadLine] {
    let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
    func typeName(_ index: Int) -> String {
        var name = "T", rest = index
        repeat { name.append(letters[rest % letters.count]); rest /= letters.count } while rest > 0
        return name
    }
    let oddName = "a\"b\nc\u{0}d\\" + String(repeating: "f", count: 100 << 10)
    return [
        program("a syntax error", "main { x = }", .error("parse_error")),
        program("a check error", "main { print nowhere }", .error("check_error")),
        program("an empty program", "", .error("check_error")),
        program("an escaped NUL in the source", "main { print 1 }\u{0}", .error("parse_error")),
        BadLine(kind: "invalid UTF-8 in the source", bytes: Array(#"{"id": "bad", "op": "run", "source": "main { print 1 "#.utf8) + [0xFF]
                + Array(#" }"}"#.utf8), answer: .error("parse_error"), echoesID: true),
        program("CRLF line endings in the source", "main {\r\n print 1\r\n}\r\n", .accepted("result")),
        program("a file name of 100 KiB with quotes, newlines and NUL", "main { x = }", .error("parse_error")) { $0.fileName = oddName },
        program("a run under that file name", "main { print 1 }", .accepted("result")) { $0.fileName = oddName },
        program("a program of 200 KiB", "fn f(x) { return x }\nmain {\n" + String(repeating: "y = f(1)\n", count: 25_000) + "print y }",
                .accepted("result")),
        program("a program of 5,000 functions", (0..<5000).map { "fn f\($0)(x) { return x + 1 }\n" }.joined() + "main { print f4999(1) }",
                .accepted("result")),
        program("a program of 900 KB", "main { " + String(repeating: "y = 1;", count: 150_000) + " }", .accepted("result")),
        program("65,000 types", (0..<65_000).map { "type \(typeName($0)){};" }.joined() + "main { }", .error("check_error")),
        program("4,096 types in the shared heap", (0..<4096).map { "type \(typeName($0)) { a }\n" }.joined() + "main { x = new \(typeName(4095)) }",
                .accepted("result")) { $0.heap = "shared" },
        program("a string of 500 KB printed", #"main { print ""# + String(repeating: "s", count: 500_000) + #"" }"#, .accepted("result")),
        program("parentheses 10,000 deep", "main { x = " + String(repeating: "(", count: 10_000) + "1" + String(repeating: ")", count: 10_000) + " }",
                .error("parse_error")),
        program("blocks 10,000 deep", "main { " + String(repeating: "if 1 { ", count: 10_000) + String(repeating: "}", count: 10_000) + " }",
                .error("parse_error")),
        program("100,000 prefix minuses", "main { x = " + String(repeating: "-", count: 100_000) + "1 }", .error("parse_error")),
        program("a chain of 50,000 additions", "main { x = 1" + String(repeating: " + 1", count: 50_000) + " }", .error("parse_error")),
        program("a chain of 20,000 slot reads", "type N { n }\nmain { x = new N; y = x" + String(repeating: ".n", count: 20_000) + " }",
                .error("parse_error")),
        program("indexes 5,000 deep", "main { a = new [1]; y = " + String(repeating: "a[", count: 5000) + "0" + String(repeating: "]", count: 5000) + " }",
                .error("parse_error")),
        program("100,000 blocks never closed", "main { " + String(repeating: "{", count: 100_000), .error("parse_error")),
        program("10,000 syntax errors", "main {\n" + String(repeating: "x = \n", count: 10_000) + "}", .error("parse_error")),
        program("an expect that fails", "main { expect 1 == 2 }", .error("expect_failed")),
        program("a run that reaches its heap limit", "type N { next }\nmain { h = none; while 1 { n = new N; n.next = h; h = n } }",
                .error("heap_limit")) { $0.heapLimitMiB = 8 },
        program("an object of the largest payload", "type B { payload 2147483647 }\nmain { x = new B }", .error("heap_limit")) { $0.heapLimitMiB = 64 },
        program("the largest array", "main { x = new [67108864] }", .error("heap_limit")) { $0.heapLimitMiB = 64 },
        program("a run that reaches its time limit", "main { while 1 { } }", .error("time_limit")) { $0.timeLimitSeconds = 0.2 },
        program("threads that spin past the time limit", "fn spin() { while 1 { } }\nmain { repeat 8 { spawn spin() }  while 1 { } }",
                .error("time_limit")) { $0.timeLimitSeconds = 0.5 },
        program("unbounded recursion", "fn f(n) { return f(n + 1) }\nmain { f(0) }", .error("run_error", detail: "run.recursion-limit")),
        program("100,000 threads spawned", "fn w() { }\nmain { repeat 100000 { spawn w() } }", .error("run_error", detail: "run.thread-limit")),
        program("an array of 2^40 elements", "main { x = new [1 << 40] }", .error("run_error", detail: "run.bad-argument")),
        program("a channel of 2^40 places", "main { c = channel(1 << 40) }", .error("run_error", detail: "run.bad-argument")),
        program("a shift past 63 bits", "main { x = 1 << 70 }", .error("run_error", detail: "run.overflow")),
        program("a division by zero", "main { x = 1 / 0 }", .error("run_error", detail: "run.division-by-zero")),
        program("the largest seed", "main { print rand(10) }", .accepted("result")) { $0.seed = .max },
    ]
}

/// Every library workload with all its params at one extreme, under small limits.
private func workloadLines() throws -> [BadLine] {
    let directory = Daemon.workloads
    let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".hw") }.sorted()
    return try files.flatMap { file in
        let text = try String(contentsOfFile: directory + "/" + file, encoding: .utf8)
        let params = text.split(separator: "\n").filter { $0.hasPrefix("param ") }.map { String($0.split(separator: " ")[1]) }
        return [Int64.max, Int64.min, -1, 0, 1 << 62].map { extreme in
            var request = Request(id: .string("bad"), op: "run")
            request.workload = String(file.dropLast(3))
            request.params = Dictionary(uniqueKeysWithValues: params.map { ($0, extreme) })
            request.heapLimitMiB = 64
            request.timeLimitSeconds = 1
            return BadLine(kind: "\(file) with every param \(extreme)", bytes: Array(try! JSONEncoder().encode(request)), answer: .settled, echoesID: true)
        }
    }
}

// MARK: The target

/// Tries `condition` every 10 ms until it holds or two minutes have passed; whether it held.
@discardableResult
private func poll(_ condition: () throws -> Bool) rethrows -> Bool {
    for _ in 0..<12_000 {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}

/// The runs that started and have no finished or interrupted line in the journal of `directory`.
private func unendedRuns(_ directory: String) -> Set<Int> {
    let entries = Journal.readAll(directory: directory)
    let ended = Set(entries.filter { $0.kind == "finished" || $0.kind == "interrupted" }.map(\.run))
    return Set(entries.filter { $0.kind == "started" }.map(\.run)).subtracting(ended)
}

/// heapd's log (its standard error), read as it comes: the Daemon helper's pipe is read by no
/// one else, and a heapd whose log pipe is full blocks in write(2), every request with it.
private final class LogDrain: Sendable {
    private struct Tally {
        var line = 0
        var longestLine = 0
    }
    private let tally = Mutex(Tally())

    init(_ daemon: Daemon) {
        daemon.errors.fileHandleForReading.readabilityHandler = { [self] handle in
            let chunk = handle.availableData
            guard !chunk.isEmpty else { return handle.readabilityHandler = nil }
            tally.withLock { tally in
                for byte in chunk {
                    if byte == UInt8(ascii: "\n") {
                        tally.longestLine = max(tally.longestLine, tally.line)
                        tally.line = 0
                    } else {
                        tally.line += 1
                    }
                }
            }
        }
    }

    /// The longest line heapd has logged, in bytes.
    var longestLine: Int { tally.withLock { max($0.longestLine, $0.line) } }
}

/// The heapd under attack: its process, its pid as SO_PEERCRED first said, its log, and the
/// checks made after each kind of bad input.
private final class Target {
    let daemon: Daemon
    let pid: pid_t
    let log: LogDrain

    init(_ daemon: Daemon) throws {
        self.daemon = daemon
        log = LogDrain(daemon)
        pid = try admittedConnection(daemon).peerPID
    }

    var path: String { daemon.socketPath }

    var journal: [JournalEntry] { Journal.readAll(directory: daemon.stateDirectory) }

    var startedRuns: Int { journal.filter { $0.kind == "started" }.count }

    /// heapd survived `kind`: the same process answers a new connection's ping, and every run
    /// that started has ended in the journal.
    func survived(_ kind: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(daemon.process.isRunning, "\(kind): heapd is gone", sourceLocation: sourceLocation)
        let connection = try admittedConnection(daemon)
        #expect(connection.peerPID == pid, "\(kind): another process answers", sourceLocation: sourceLocation)
        try connection.send(line: #"{"id": "alive", "op": "ping"}"#)
        let pong = try connection.receive()
        #expect(pong?.type == "pong" && pong?.id == .string("alive"), "\(kind): \(String(describing: pong))", sourceLocation: sourceLocation)
        let unended = waitUntilRunsEnded()
        #expect(unended.isEmpty, "\(kind): runs \(unended.sorted()) started and did not end in the journal", sourceLocation: sourceLocation)
    }

    /// The runs that started and have not ended, once there are none (or after two minutes).
    func waitUntilRunsEnded() -> Set<Int> {
        var unended = unendedRuns(daemon.stateDirectory)
        poll {
            unended = unendedRuns(daemon.stateDirectory)
            return unended.isEmpty
        }
        return unended
    }

    /// Waits (up to two minutes) until the journal has `count` started lines.
    func waitUntilStarted(_ count: Int) {
        poll { startedRuns >= count }
    }

    /// Sends `line` on `connection`, then a ping; the responses to the line (events skipped), once
    /// the ping is answered and the line has had its answer.
    func exchange(_ connection: RawConnection, _ line: BadLine) throws -> [Response] {
        try connection.send(line.bytes + [UInt8(ascii: "\n")] + Array(#"{"id": "next", "op": "ping"}"#.utf8) + [UInt8(ascii: "\n")])
        var answers: [Response] = [], pong = false
        let wanted: Bool
        if case .nothing = line.answer { wanted = false } else { wanted = true }
        while !pong || (wanted && answers.isEmpty) {
            let response = try #require(try connection.receive(), "\(line.kind): heapd closed the connection")
            if response.type == "pong" && response.id == .string("next") {
                pong = true
            } else if !response.isEvent {
                answers.append(response)
            }
        }
        return answers
    }

    /// `answers` are what `line` must get.
    func check(_ line: BadLine, _ answers: [Response]) {
        let kind = line.kind
        if case .nothing = line.answer {
            #expect(answers.isEmpty, "\(kind): answered \(answers.map(\.type))")
            return
        }
        guard answers.count == 1, let answer = answers.first else {
            Issue.record("\(kind): \(answers.count) answers: \(answers.map { "\($0.type) \($0.code ?? "")" })")
            return
        }
        let seen = "\(kind): \(answer.type) \(answer.code ?? "") \(answer.message?.prefix(200) ?? "")"
        switch line.answer {
        case .error(let code, let detail):
            #expect(answer.type == "error" && answer.code == code, "\(seen)")
            if let detail { #expect(answer.detail == detail, "\(kind): \(answer.detail ?? "no detail")") }
            if line.echoesID && code != "bad_json" { #expect(answer.id == .string("bad"), "\(kind): id \(String(describing: answer.id))") }
        case .wrongType:
            #expect(answer.type == "error" && ["bad_json", "bad_request"].contains(answer.code ?? ""), "\(seen)")
        case .accepted(let type):
            #expect(answer.type == type, "\(seen)")
            if line.echoesID { #expect(answer.id == .string("bad"), "\(kind): id \(String(describing: answer.id))") }
        case .settled:
            #expect(answer.type == "result" || (answer.type == "error" && documentedCodes.contains(answer.code ?? "")), "\(seen)")
        case .nothing:
            break
        }
    }
}

// MARK: Clients that misbehave

extension Target {
    /// A ping and an unknown op sent a byte at a time, while another client is served.
    func aLineSentAByteAtATime() throws {
        let slow = try RawConnection(path)
        let bytes = Array(#"{"id": "slow", "op": "ping"}"#.utf8) + [UInt8(ascii: "\n")] + Array(#"{"id": "slower", "op": "frob"}"#.utf8) + [UInt8(ascii: "\n")]
        for (index, byte) in bytes.enumerated() {
            try slow.send([byte])
            usleep(1_000)
            if index == bytes.count / 2 {
                let other = try RawConnection(path)
                try other.send(line: #"{"id": "other", "op": "ping"}"#)
                #expect(try other.receive()?.type == "pong", "another client waited for the slow one")
            }
        }
        #expect(try slow.receive()?.id == .string("slow"))
        #expect(try slow.receive()?.code == "unknown_op")
    }

    /// Half a line, left while other clients are served, then finished; then half a line and a close.
    func aHalfLineLeftHanging() throws {
        let hanging = try RawConnection(path)
        try hanging.send(Array(#"{"id": "half", "op": "pi"#.utf8))
        try survived("a half line left hanging (meanwhile)")
        try hanging.send(Array(#"ng"}"#.utf8) + [UInt8(ascii: "\n")])
        #expect(try hanging.receive()?.id == .string("half"))
        try hanging.send(Array(#"{"id": "never", "op": "run", "source": "main { }""#.utf8))
    }

    /// 200 idle connections, every one still answered; then more than the per-user cap (256):
    /// those over it get too_many_connections and are closed.
    func manyIdleConnectionsAndThePerUserCap() throws {
        let idle = try (0..<200).map { _ in try RawConnection(path) }
        try survived("200 idle connections (meanwhile)")
        for (index, connection) in idle.enumerated() {
            try connection.send(line: #"{"id": \#(index), "op": "ping"}"#)
            #expect(try connection.receive()?.id == .number(index))
        }
        let more = try (0..<100).map { _ in try RawConnection(path) }
        var served = 0, refused = 0
        for connection in more {
            try? connection.send(line: #"{"id": "more", "op": "ping"}"#)       // a refused one may be closed already
            let answer = try #require(try connection.receive())
            if answer.type == "pong" {
                served += 1
            } else {
                #expect(answer.code == "too_many_connections", "\(answer.code ?? answer.type)")
                #expect(answer.message?.contains("max_connections_per_user") == true, "\(answer.message ?? "")")
                #expect(try connection.receiveLine() == nil)
                refused += 1
            }
        }
        #expect(refused > 0)
        #expect(idle.count + served <= 256)
    }

    /// 2,000 bad lines in one write, read only once heapd has stopped reading: every one answered,
    /// in order.
    func linesPipelinedAndNotRead() throws {
        let connection = try RawConnection(path)
        let count = 2000
        let lines = (0..<count).map { $0.isMultiple(of: 2) ? #"{"id": \#($0), "op": "frob"}"# : #"{"id": \#($0), "op": "history", "limit": -1}"# }
        try sendInBackground(connection, Array((lines.joined(separator: "\n") + "\n").utf8)) {
            for index in 0..<count {
                let answer = try #require(try connection.receive())
                #expect(answer.id == .number(index) && answer.code == (index.isMultiple(of: 2) ? "unknown_op" : "bad_request"), "\(index)")
                if answer.id != .number(index) { break }
            }
        }
    }

    /// 256 KiB of seeded random bytes: one bad_json per line that is not blank.
    func binaryGarbage() throws {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let garbage = (0..<(256 << 10)).map { _ -> UInt8 in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        } + [UInt8(ascii: "\n")]
        let blank: Set<UInt8> = [UInt8(ascii: " "), UInt8(ascii: "\r"), UInt8(ascii: "\t")]
        let expected = garbage.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
            .filter { !$0.allSatisfy(blank.contains) }.count
        let connection = try RawConnection(path)
        try sendInBackground(connection, garbage + Array(#"{"id": "end", "op": "ping"}"#.utf8) + [UInt8(ascii: "\n")]) {
            var answers = 0
            while let answer = try connection.receive(), answer.id != .string("end") {
                #expect(answer.code == "bad_json", "\(answer.type) \(answer.code ?? "")")
                answers += 1
            }
            #expect(answers == expected)
        }
    }

    /// `bytes` sent from another thread (heapd stops reading while its answers are unread), while
    /// `read` reads on this one. The sender is waited for even when `read` throws: the connection
    /// (and its descriptor) must outlive it.
    private func sendInBackground(_ connection: RawConnection, _ bytes: [UInt8], read: () throws -> Void) throws {
        let descriptor = connection.descriptor
        let sent = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            try? sendAll(descriptor, bytes)
            sent.signal()
        }
        defer { sent.wait() }
        try read()
    }

    /// 24 endless runs on one connection: those past workers + queue_limit (18) get busy, another
    /// client is still served (and refused a run), and closing the connection ends them all.
    func aRunFloodPastTheQueue() throws {
        let before = startedRuns
        let flood = try RawConnection(path)
        try flood.send(line: (0..<24).map { #"{"id": \#($0), "op": "run", "source": "main { while 1 { } }", "timeLimitSeconds": 300}"# }
            .joined(separator: "\n"))
        for _ in 0..<6 { #expect(try flood.receive()?.code == "busy") }
        waitUntilStarted(before + 18)
        let other = try RawConnection(path)
        try other.send(line: #"{"id": "ping", "op": "ping"}"#)
        #expect(try other.receive()?.type == "pong")
        try other.send(line: #"{"id": "one more", "op": "run", "source": "main { }"}"#)
        #expect(try other.receive()?.code == "busy")
    }

    /// An endless run and three exclusive runs behind it, then the client leaves.
    func exclusiveRunsPiledUpThenTheClientLeaves() throws {
        let before = startedRuns
        let client = try RawConnection(path)
        try client.send(line: #"{"id": 1, "op": "run", "source": "main { while 1 { } }", "timeLimitSeconds": 300}"#)
        for id in 2...4 { try client.send(line: #"{"id": \#(id), "op": "run", "source": "main { while 1 { } }", "exclusive": true, "timeLimitSeconds": 300}"#) }
        waitUntilStarted(before + 4)
    }

    /// A streamed run whose client never reads: with the defaults its output stops at
    /// max_output_bytes (1 MiB) before the connection's output_high_water_bytes (4 MiB) is
    /// reached, so it runs to its time limit; what heapd holds for the client stays bounded, and
    /// heapd serves on. (ConnectionTests cancels and disconnects such a client past the mark.)
    func aStreamedRunNeverRead() throws {
        let before = startedRuns
        let stopped = try RawConnection(path)
        let text = String(repeating: "0123456789", count: 20)
        try stopped.send(line: #"{"id": "flood", "op": "run", "stream": true, "timeLimitSeconds": 2, "source": "main { while 1 { print \"\#(text)\" } }"}"#)
        waitUntilStarted(before + 1)
        #expect(waitUntilRunsEnded().isEmpty)
        #expect(["run.cancelled", "run.time-limit"].contains(journal.last?.code ?? ""), "\(journal.last?.code ?? "no code")")
    }

    /// An endless run whose client closes its connection: cancelled.
    func aClientThatLeavesMidRun() throws {
        let before = startedRuns
        do {
            let leaving = try RawConnection(path)
            try leaving.send(line: #"{"id": "gone", "op": "run", "source": "main { while 1 { } }", "timeLimitSeconds": 300}"#)
            waitUntilStarted(before + 1)
        }
        #expect(waitUntilRunsEnded().isEmpty)
        #expect(journal.last?.code == "run.cancelled")
    }

    /// A streamed run whose client resets its connection (SO_LINGER 0) after a few events.
    func aClientThatResetsMidRun() throws {
        let before = startedRuns
        do {
            let resetting = try RawConnection(path)
            try resetting.send(line: #"{"id": "reset", "op": "run", "stream": true, "timeLimitSeconds": 300, "source": "main { while 1 { print 1 } }"}"#)
            for _ in 0..<3 { _ = try resetting.receive() }
            var abort = linger(l_onoff: 1, l_linger: 0)
            setsockopt(resetting.descriptor, SOL_SOCKET, SO_LINGER, &abort, socklen_t(MemoryLayout<linger>.size))
        }
        waitUntilStarted(before + 1)
        #expect(waitUntilRunsEnded().isEmpty)
        #expect(journal.last?.code == "run.cancelled")
    }

    /// A client that sends a ping and an endless run, shuts its sending side, reads the pong,
    /// then leaves altogether mid-run: the run is cancelled. (One that stays is answered
    /// everything: HostileClientTests.aClientThatHalfClosesIsAnsweredWhatItSent.)
    func aClientThatHalfClosesThenLeaves() throws {
        let before = startedRuns
        do {
            let connection = try RawConnection(path)
            try connection.send(line: #"{"id": "then", "op": "ping"}"# + "\n"
                                + #"{"id": "half", "op": "run", "source": "main { while 1 { } }", "timeLimitSeconds": 300}"#)
            shutdown(connection.descriptor, Int32(SHUT_WR))
            #expect(try connection.receive()?.type == "pong")
            waitUntilStarted(before + 1)
        }
        #expect(waitUntilRunsEnded().isEmpty)
        #expect(journal.last?.code == "run.cancelled")
    }

    /// A detached run goes on after its client has left, and ends well.
    func aDetachedRunOutlivesItsClient() throws {
        let before = startedRuns
        do {
            let leaving = try RawConnection(path)
            try leaving.send(line: #"{"id": "detached", "op": "run", "source": "main { repeat 2000000 { } print 1 }", "detach": true}"#)
            waitUntilStarted(before + 1)
        }
        #expect(waitUntilRunsEnded().isEmpty)
        #expect(journal.last?.ok == true, "\(journal.last?.code ?? "")")
    }

    /// Cancel of another connection's run, twice of one's own, and of a run already ended.
    func cancelAbuse() throws {
        let owner = try RawConnection(path), other = try RawConnection(path)
        try owner.send(line: #"{"id": "endless", "op": "run", "source": "main { while 1 { } }", "timeLimitSeconds": 300}"#)
        try other.send(line: #"{"id": "c", "op": "cancel", "target": "endless"}"#)
        #expect(try other.receive()?.code == "bad_request")
        try owner.send(line: #"{"id": "c1", "op": "cancel", "target": "endless"}"# + "\n" + #"{"id": "c2", "op": "cancel", "target": "endless"}"#)
        var answers: [Response] = []
        while answers.count < 3 { answers.append(try #require(try owner.receive())) }
        #expect(answers.contains { $0.id == .string("c1") && $0.type == "cancel" })
        #expect(answers.contains { $0.id == .string("endless") && $0.code == "cancelled" })
        // The second may find the run still there or already gone.
        #expect(answers.contains { $0.id == .string("c2") && ($0.type == "cancel" || $0.code == "bad_request") })
        try owner.send(line: #"{"id": "c3", "op": "cancel", "target": "endless"}"#)
        #expect(try owner.receive()?.code == "bad_request")
    }

    /// 40 sessions of one user (the oldest dropped past 16), a session filled to its 1 MiB of
    /// source, a second piece while one runs (busy), and a piece cancelled by its id.
    func execAbuse() throws {
        let client = try RawConnection(path)
        func exec(_ session: String, _ source: String, id: String = "e") throws -> Response {
            var request = Request(id: .string(id), op: "exec")
            request.session = session
            request.source = source
            try client.send(Array(try JSONEncoder().encode(request)) + [UInt8(ascii: "\n")])
            return try #require(try client.receive())
        }
        for number in 0..<40 { #expect(try exec("many-\(number)", "x = \(number)").type == "exec") }
        #expect(try exec("many-0", "print x").code == "check_error")          // dropped
        #expect(try exec("many-39", "print x").lines == ["39"])
        let big = "x = 1 # " + String(repeating: "p", count: 65_000)
        for _ in 0..<16 { #expect(try exec("full", big).type == "exec") }
        let over = try exec("full", big)
        #expect(over.code == "bad_request", "\(over.message ?? "")")
        // A piece while one runs, then the running one cancelled.
        var long = Request(id: .string("long"), op: "exec")
        long.session = "busy"
        long.source = "while 1 { }"
        try client.send(Array(try JSONEncoder().encode(long)) + [UInt8(ascii: "\n")])
        #expect(try exec("busy", "x = 2", id: "second").code == "busy")
        try client.send(line: #"{"id": "c", "op": "cancel", "target": "long"}"#)
        var answers: [Response] = []
        while answers.count < 2 { answers.append(try #require(try client.receive())) }
        #expect(answers.contains { $0.id == .string("c") && $0.type == "cancel" })
        #expect(answers.contains { $0.id == .string("long") && $0.code == "cancelled" })
    }

    /// A member of the allowed group asks for what only the owner may, `shutdown` first; a
    /// stranger is refused as it connects. Root only (setpriv).
    func peersThatMayNot() throws {
        guard DaemonTests.canChangeUser else { return }
        let lines = [
            #"{"id": 1, "op": "shutdown"}"#, #"{"id": 2, "op": "config"}"#,
            #"{"id": 3, "op": "run", "source": "main { }", "detach": true}"#, #"{"id": 4, "op": "run", "source": "main { }", "exclusive": true}"#,
            #"{"id": 5, "op": "run", "source": "main { }", "heapLimitMiB": 2048}"#, #"{"id": 6, "op": "run", "source": "main { }", "timeLimitSeconds": 601}"#,
            #"{"id": 7, "op": "gc", "action": "threshold", "thresholds": [1]}"#, #"{"id": 8, "op": "gc", "action": "disable"}"#,
            #"{"id": 9, "op": "ping"}"#,
        ]
        let answers = try askAs(uid: 65534, gid: 65534, path, lines).map { try? JSONDecoder().decode(Response.self, from: Data($0.utf8)) }
        try #require(answers.count == lines.count, "\(answers)")
        for index in 0..<8 { #expect(answers[index]?.code == "forbidden", "\(lines[index]): \(String(describing: answers[index]))") }
        #expect(answers[8]?.type == "pong")
        // Past the socket's mode (0660, heapd's group: set just after binding) to the peer check.
        chmod(path, 0o666)
        let stranger = try askAs(uid: 65534, gid: 100, path, [#"{"id": 1, "op": "shutdown"}"#])
        #expect(stranger.first?.contains(#""forbidden""#) == true, "\(stranger)")
        chmod(path, 0o660)
    }
}

extension Daemon {
    /// Stops heapd and removes its state directory.
    func stopAndRemoveState() {
        stop()
        try? FileManager.default.removeItem(atPath: stateDirectory)
    }
}

// MARK: The suite

@Suite(.serialized) struct HostileClientTests {
    /// Runs in a test process of its own (`.ci/run`'s last stage: HEAPD_HOSTILE=1 and this suite
    /// alone). Beside the other suites, the test process once crashed in libdispatch's event
    /// loop (a bad pointer in _dispatch_event_loop_drain) while this test stopped its heapd: the
    /// test process itself, not heapd, whose pid and answers the test checks throughout.
    static let runsAlone = ProcessInfo.processInfo.environment["HEAPD_HOSTILE"] != nil

    @Test(.enabled(if: runsAlone, "HEAPD_HOSTILE=1 swift test --filter HostileClientTests (.ci/run does)"))
    func heapdAnswersEveryKindOfBadInputAndSurvivesEach() throws {
        // As root, heapd shares itself with nogroup, so that a member can be tried.
        let daemon = try Daemon(extraArguments: DaemonTests.canChangeUser ? ["--allow-group", "nogroup"] : [])
        defer { daemon.stopAndRemoveState() }
        let target = try Target(daemon)
        let lines = try malformedLines() + oddLines() + wrongTypeLines() + refusedLines() + programLines() + workloadLines()
        let hostile = try RawConnection(daemon.socketPath)
        for line in lines {
            target.check(line, try target.exchange(hostile, line))
            try target.survived(line.kind)
        }
        let clients: [(String, (Target) -> () throws -> Void)] = [
            ("a line sent a byte at a time", Target.aLineSentAByteAtATime),
            ("a half line left hanging", Target.aHalfLineLeftHanging),
            ("hundreds of idle connections and the per-user cap", Target.manyIdleConnectionsAndThePerUserCap),
            ("lines pipelined and not read", Target.linesPipelinedAndNotRead),
            ("binary garbage", Target.binaryGarbage),
            ("a run flood past the queue", Target.aRunFloodPastTheQueue),
            ("exclusive runs piled up, then the client leaves", Target.exclusiveRunsPiledUpThenTheClientLeaves),
            ("a streamed run never read", Target.aStreamedRunNeverRead),
            ("a client that leaves mid-run", Target.aClientThatLeavesMidRun),
            ("a client that resets mid-run", Target.aClientThatResetsMidRun),
            ("a client that half-closes, then leaves", Target.aClientThatHalfClosesThenLeaves),
            ("a detached run that outlives its client", Target.aDetachedRunOutlivesItsClient),
            ("cancel abuse", Target.cancelAbuse),
            ("exec abuse", Target.execAbuse),
            ("peers that may not", Target.peersThatMayNot),
        ]
        for (kind, attack) in clients {
            try attack(target)()
            try target.survived(kind)
        }
        // The table's connection is still usable, with nothing stray on it.
        try hostile.send(line: #"{"id": "last", "op": "ping"}"#)
        #expect(try hostile.receive()?.id == .string("last"))
    }

    @Test func killedMidRunHeapdRecordsItsRunsAsInterruptedAtTheNextStart() throws {
        let daemon = try Daemon()
        defer { try? FileManager.default.removeItem(atPath: daemon.stateDirectory) }
        _ = LogDrain(daemon)
        let client = try daemon.connect()
        try client.send(#"{"id": 1, "op": "run", "source": "main { while 1 { } }", "timeLimitSeconds": 300}"#)
        try client.send(#"{"id": 2, "op": "run", "source": "main { while 1 { } }", "timeLimitSeconds": 300, "detach": true}"#)
        try client.send(#"{"id": 3, "op": "exec", "session": "killed", "source": "while 1 { }"}"#)
        poll { Journal.readAll(directory: daemon.stateDirectory).filter { $0.kind == "started" }.count == 3 }
        kill(daemon.process.processIdentifier, SIGKILL)
        daemon.process.waitUntilExit()
        #expect(unendedRuns(daemon.stateDirectory) == [1, 2, 3])
        let again = try Daemon(socketPath: daemon.socketPath, stateDirectory: daemon.stateDirectory)
        defer { again.stop() }
        _ = LogDrain(again)
        let later = try again.connect()
        let history = try ask(later, #"{"id": 4, "op": "history"}"#).history ?? []
        #expect(history.map(\.run) == [1, 2, 3])
        #expect(history.map(\.kind) == ["interrupted", "interrupted", "interrupted"])
        #expect(unendedRuns(daemon.stateDirectory).isEmpty)
        #expect(try runEvents(later, runRequest("main { }")).last.run == 4)
    }

    @Test
    func aTimeLimitUnderAMillisecondIsATimeLimitNotACrash() throws {
        let daemon = try Daemon()
        defer { daemon.stopAndRemoveState() }
        let target = try Target(daemon)
        let client = try RawConnection(daemon.socketPath)
        for seconds in ["1e-300", "5e-324", "0.0001"] {
            try client.send(line: #"{"id": "tiny", "op": "run", "source": "main { while 1 { } }", "timeLimitSeconds": \#(seconds)}"#)
            let answer = try #require(try client.receive(), "heapd closed the connection: \(seconds)")
            #expect(answer.code == "time_limit" || answer.code == "bad_request", "\(seconds): \(answer.type) \(answer.code ?? "")")
            try target.survived("timeLimitSeconds = \(seconds)")
        }
    }

    @Test
    func theOutputOfARunThatIsNotStreamedIsBounded() throws {
        let daemon = try Daemon()
        defer { daemon.stopAndRemoveState() }
        let target = try Target(daemon)
        let client = try RawConnection(daemon.socketPath)
        let line = String(repeating: "0123456789", count: 10)
        try client.send(line: #"{"id": "loud", "op": "run", "timeLimitSeconds": 600, "source": "main { repeat 3000000 { print \"\#(line)\" } }"}"#)
        // The answer's bytes, counted and dropped (RawConnection would keep them whole).
        var answered = 0, chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(client.descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            answered += count
            if chunk[count - 1] == UInt8(ascii: "\n") { break }
        }
        #expect(answered < 16 << 20, "an answer of \(answered >> 20) MiB")
        let peak = try #require(peakResidentBytes(of: daemon.process.processIdentifier))
        #expect(peak < 256 << 20, "heapd's peak resident memory: \(peak >> 20) MiB")
        try target.survived("300 MB of output, not streamed")
    }

    /// A client that half-closes (shutdown(SHUT_WR), as `nc -N` and socat do) is answered every
    /// request it sent — a run that takes a while, one streamed, an unfinished line dropped — and
    /// then closed.
    @Test func aClientThatHalfClosesIsAnsweredWhatItSent() throws {
        let daemon = try Daemon()
        defer { daemon.stopAndRemoveState() }
        let connection = try RawConnection(daemon.socketPath)
        try connection.send(line: #"{"id": 1, "op": "ping"}"# + "\n" + #"{"id": 2, "op": "run", "source": "main { repeat 3000000 { } print 2 }"}"#
                            + "\n" + #"{"id": 3, "op": "run", "stream": true, "source": "main { print 3 }"}"#)
        try connection.send(Array(#"{"id": 4, "op": "pi"#.utf8))
        shutdown(connection.descriptor, Int32(SHUT_WR))
        var answers: [Response] = []
        while let response = try connection.receive() { answers.append(response) }
        #expect(answers.first?.type == "pong")
        #expect(answers.contains { $0.id == .number(2) && $0.result?.output == ["2"] })
        #expect(answers.contains { $0.id == .number(3) && $0.type == "output" && $0.line == "3" })
        #expect(answers.contains { $0.id == .number(3) && $0.type == "result" })
        #expect(!answers.contains { $0.id == .number(4) })
        try expectStillServing(daemon)
    }

    @Test func heapdsLogLinesAreBoundedWhateverAClientSends() throws {
        let daemon = try Daemon()
        defer { daemon.stopAndRemoveState() }
        let target = try Target(daemon)
        let client = try RawConnection(daemon.socketPath)
        let long = String(repeating: "x", count: 1000 << 10)
        var parseError = Request(id: .string("file"), op: "run")
        parseError.source = "main { x = }"
        parseError.fileName = long
        for line in [#"{"id": "op", "op": "\#(long)"}"#, #"{"id": "workload", "op": "run", "workload": "\#(long)"}"#,
                     String(decoding: try JSONEncoder().encode(parseError), as: UTF8.self)] {
            try client.send(line: line)
            #expect(try client.receive()?.type == "error")
        }
        try target.survived("three requests of 1,000 KiB that fail")
        #expect(target.log.longestLine <= 16 << 10, "heapd logged a line of \(target.log.longestLine) bytes")
    }
}
