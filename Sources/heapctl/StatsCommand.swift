// heapctl stats: heapd's counters (requests, runs, errors).

import ArgumentParser
import HeapService

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stats", abstract: "Show heapd's counters.")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let response = try connection.ask(Request(id: .number(1), op: "stats"))
        guard !connection.json, let stats = response.stats else { return }
        print("""
            requests       \(stats.requests)
            errors         \(stats.errors)
            runs started   \(stats.runsStarted)
            runs running   \(stats.runsRunning)
            runs finished  \(stats.runsFinished)
            runs failed    \(stats.runsFailed)
            """)
    }
}
