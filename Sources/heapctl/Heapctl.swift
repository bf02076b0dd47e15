// heapctl: the command line of heapd. One subcommand per file.

import ArgumentParser
import HeapService

@main
struct Heapctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heapctl",
        abstract: "Run and inspect heapd workloads.",
        version: protocolVersion,
        subcommands: [RunCommand.self, BenchCommand.self, StatsCommand.self, HistoryCommand.self, MetricsCommand.self, ShellCommand.self, GcCommand.self, ReportCommand.self, WorkloadsCommand.self]
    )
}
