// heapctl: the command line of heapd. One subcommand per file; exit statuses in ExitStatus.swift.

import ArgumentParser
import Foundation
import HeapService

@main
struct Heapctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "heapctl",
        abstract: "Run and inspect heapd workloads.",
        version: protocolVersion,
        subcommands: [RunCommand.self, BenchCommand.self, StatsCommand.self, HistoryCommand.self, MetricsCommand.self, ShellCommand.self, GcCommand.self, ReportCommand.self, WorkloadsCommand.self]
    )

    /// ArgumentParser's own main, but a command line it refuses exits 2 (ExitStatus.usage), not
    /// its EX_USAGE (64): heapctl has one status for "the command line is wrong".
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            FileHandle.standardError.write((fullMessage(for: error) + "\n").data(using: .utf8)!)
            exit(withError: ExitCode(ExitStatus.usage))
        }
    }
}
