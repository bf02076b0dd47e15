// RunEnding: how a run's or an exec piece's outcome is answered and journalled. Pure: the
// service reads the clock and the counters, this only decides.
//
//   outcome                        response                               finished line
//   refused by the runner          error bad_request, the diagnostics     ok false, code bad_request
//     (diagnostics)
//   a result without an error      run: `result` with it                  ok true, wall time,
//                                  exec: `exec` with the piece's lines     allocations, collections
//   a result with an error         error with ErrorCode(runError:), and   ok false, code: the run's
//                                  `detail` for run_error; a run's         own (run.heap-limit...),
//                                  carries its result                     message; the figures
//
// An exec piece's lines are what it printed of the session's replay: the lines after the
// `printedBefore` the session had printed. When the replay passed max_output_bytes, the lines of
// the piece that were dropped are counted in `droppedOutputLines` and the marker line ends
// `lines`, as it ends a run's output:
//
//   kept = lines of the output before the marker;  printed = kept + dropped
//   the piece's lines   output[min(before, kept) ..< kept]
//   the piece dropped   printed − max(before, kept)   (then the marker follows its lines)

import HeapWorkload

struct RunEnding {
    var response: Response
    var entry: JournalEntry

    /// What the response is: a run's, or an exec piece's (which printed its lines after the
    /// session's first `printedBefore`).
    enum Answer {
        case run
        case exec(printedBefore: Int)
    }

    /// The run failed: the counters count it failed, and an error.
    var failed: Bool { entry.ok != true }

    /// `started`: the finished line's fields known before the run (kind, run, time, file,
    /// policy, params, version).
    init(_ outcome: Result<RunResult, DiagnosticList>, id: RequestID?, started: JournalEntry, answer: Answer) {
        entry = started
        let result: RunResult
        switch outcome {
        case .failure(let diagnostics):
            response = .error(id, .badRequest, diagnostics.rendered())
            entry.ok = false
            entry.code = ErrorCode.badRequest.rawValue
            return
        case .success(let ran):
            result = ran
        }
        entry.ok = result.ok
        entry.wallSeconds = result.wallSeconds
        entry.allocations = result.allocations
        entry.collections = result.collector.collections.reduce(0, +)
        if let error = result.error {
            let code = ErrorCode(runError: error.code)
            switch answer {
            case .run:
                response = .error(id, code, error.description)
                response.result = result
            case .exec:
                // The place in the replayed session's source would mean nothing to the client.
                response = .error(id, code, error.message)
            }
            if code == .runError { response.detail = error.code.rawValue }
            entry.code = error.code.rawValue
            entry.message = error.message
            return
        }
        switch answer {
        case .run:
            response = Response(id: id, type: "result")
            response.result = result
        case .exec(let before):
            response = Response(id: id, type: "exec")
            let kept = result.keptOutputLines
            response.lines = Array(result.output[min(before, kept)..<kept])
            let dropped = result.printedLines - max(before, kept)
            if dropped > 0 {
                response.lines?.append(result.output[kept])
                response.droppedOutputLines = dropped
            }
        }
    }
}
