// heapctl report: the memory report of heapd's shared heap — live objects by allocation site (or
// type), what changed since the previous report, garbage kept by save-all mode, fragmentation;
// `--trace on|off` switches the shared heap's allocation-site tracing first.

import ArgumentParser
import HeapService

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Show the memory report of heapd's shared heap.",
        discussion: "Examples: `heapctl report --trace on` (record sites from now on), then `heapctl report` after some runs: what grew since the previous report, by site.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Turn the shared heap's allocation-site tracing on or off before the report.")
    var trace: String?

    func validate() throws {
        if let trace, trace != "on" && trace != "off" { throw ValidationError("--trace is on or off, not '\(trace)'") }
    }

    func request() -> Request {
        var request = Request(id: .number(1), op: "report")
        request.trace = trace.map { $0 == "on" }
        return request
    }

    func run() throws {
        let response = try connection.ask(request())
        guard !connection.json, let report = response.memoryReport else { return }
        print(MemoryReportText.text(of: report), terminator: "")
    }
}
