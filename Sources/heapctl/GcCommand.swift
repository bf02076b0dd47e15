// heapctl gc: the collector of heapd's shared heap — collect, enable, disable, threshold, freeze,
// unfreeze, or (with no action) its status.

import ArgumentParser
import HeapService

struct GcCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Act on the collector of heapd's shared heap.",
        discussion: "Examples: `heapctl gc`, `heapctl gc collect --generation 0`, `heapctl gc threshold 500 5 5`, `heapctl gc disable`.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "collect, enable, disable, threshold, freeze, unfreeze or status.")
    var action: String = "status"

    @Argument(help: "For threshold: one to three thresholds.")
    var thresholds: [Int] = []

    @Option(help: "For collect: the generation (0, 1 or 2).")
    var generation: Int?

    func run() throws {
        var request = Request(id: .number(1), op: "gc")
        request.action = action
        request.generation = generation
        if !thresholds.isEmpty { request.thresholds = thresholds }
        let response = try connection.ask(request)
        guard !connection.json, let status = response.gc else { return }
        if let collected = status.collected { print("collected \(collected) unreachable objects") }
        if let moved = status.moved { print("moved \(moved) objects") }
        print("""
            automatic collection  \(status.enabled ? "on" : "off")
            count                 \(status.count.map(String.init).joined(separator: " "))
            thresholds            \(status.thresholds.map(String.init).joined(separator: " "))
            collections           \(status.collections.map(String.init).joined(separator: " "))
            frozen                \(status.frozen)
            mapped                \(status.mappedBytes >> 20) MiB
            """)
    }
}
