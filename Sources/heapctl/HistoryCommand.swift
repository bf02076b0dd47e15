// heapctl history: the latest runs heapd recorded in its journal, newest last.

import ArgumentParser
import Foundation
import HeapService

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "history", abstract: "List the latest runs from heapd's journal.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "How many runs.")
    var limit: Int = 20

    func run() throws {
        var request = Request(id: .number(1), op: "history")
        request.limit = limit
        let response = try connection.ask(request)
        guard !connection.json else { return }
        let date = DateFormatter()
        date.dateFormat = "yyyy-MM-dd HH:mm:ss"
        print("run   when                 file                      rc           outcome              wall s")
        for entry in response.history ?? [] {
            let outcome = entry.kind == "interrupted" ? "interrupted" : (entry.ok == true ? "ok" : entry.code ?? "failed")
            let wall = entry.wallSeconds.map { String(format: "%.3f", $0) } ?? "-"
            print(pad(String(entry.run), 5), date.string(from: Date(timeIntervalSince1970: entry.time)) + " ",
                  pad(entry.file ?? "", 25), pad(entry.policy ?? "", 12), pad(outcome, 20), wall)
        }
    }
}

/// `text` padded with spaces to `width` (never cut).
private func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
