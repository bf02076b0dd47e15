// heapctl metrics: heapd's metrics in Prometheus's text format.

import ArgumentParser
import HeapService

struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "metrics", abstract: "Print heapd's metrics (Prometheus text format).")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let response = try connection.ask(Request(id: .number(1), op: "metrics"))
        if !connection.json { print(response.metrics ?? "", terminator: "") }
    }
}
