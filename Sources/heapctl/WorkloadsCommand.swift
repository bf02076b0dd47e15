// heapctl workloads: the library heapd serves by name, with a line on each.

import ArgumentParser
import HeapService

struct WorkloadsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "workloads", abstract: "List the library workloads heapd knows by name.")

    @OptionGroup var connection: ConnectionOptions

    func run() throws {
        let response = try connection.ask(Request(id: .number(1), op: "workloads"))
        guard !connection.json else { return }
        let library = response.workloads ?? [:]
        let width = (library.keys.map(\.count).max() ?? 0) + 2
        for name in library.keys.sorted() {
            print(name + String(repeating: " ", count: width - name.count) + library[name]!)
        }
    }
}
