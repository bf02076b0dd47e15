// ExitStatus: what heapctl's exit status says, the same for every subcommand (README, "heapctl").
//
//   status  meaning                                              from
//   0       done                                                 a result, an answer
//   1       the run failed, or heapd answered another error      expect_failed, heap_limit, time_limit, cancelled,
//                                                                run_error, not_recorded, internal, ...
//   2       the program or the command line is wrong             parse_error, check_error, bad_request,
//                                                                request_too_large; ArgumentParser's usage errors
//   3       no heapd answered: none listens, it dropped the      ClientError; idle_timeout
//           connection, it said nothing for --timeout seconds,
//           or the one serving the socket is not trusted
//   4       heapd is busy: try again later                       busy, shutting_down, too_many_connections
//   5       this user may not do that                            forbidden
//
// Busy and forbidden are not "bad program": a script retries on 4, asks for the heapd group on 5.

import ArgumentParser
import Foundation
import HeapService

enum ExitStatus {
    static let failed: Int32 = 1
    static let usage: Int32 = 2
    static let unreachable: Int32 = 3
    static let busy: Int32 = 4
    static let forbidden: Int32 = 5

    /// The status for heapd's `error` response with `code` (the table above).
    static func of(errorCode code: String?) -> Int32 {
        switch code {
        case "parse_error", "check_error", "bad_request", "request_too_large": usage
        case "busy", "shutting_down", "too_many_connections": busy
        case "forbidden": forbidden
        case "idle_timeout": unreachable
        default: failed
        }
    }

    /// Prints `heapctl: message` on stderr and exits with `status`.
    static func fail(_ message: String, status: Int32) -> Never {
        FileHandle.standardError.write("heapctl: \(message)\n".data(using: .utf8)!)
        Heapctl.exit(withError: ExitCode(status))
    }

    /// heapctl's words for a connection that failed (exit 3): how long it waited when it timed out.
    static func describe(_ error: ClientError, path: String, timeout: Duration?) -> String {
        if case .timedOut = error, let timeout {
            return "heapd at \(path) did not answer within \(timeout.components.seconds) s (--timeout)"
        }
        return "\(error)"
    }
}
