// heapctl gc: the collector of heapd's shared heap — collect, enable, disable, threshold,
// collector (its mode), freeze, unfreeze, or (with no action) its status.

import ArgumentParser
import HeapCore
import HeapService

struct GcCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Act on the collector of heapd's shared heap.",
        discussion: "Examples: `heapctl gc`, `heapctl gc collect --generation 0`, `heapctl gc threshold 500 5 5`, `heapctl gc collector stop-the-world`, `heapctl gc disable`.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "collect, enable, disable, threshold, collector, freeze, unfreeze or status.")
    var action: String = "status"

    @Argument(help: "For threshold: one to three thresholds. For collector: concurrent or stop-the-world.")
    var values: [String] = []

    @Option(help: "For collect: the generation (0, 1 or 2).")
    var generation: Int?

    /// The `gc` request the arguments ask for.
    func request() throws -> Request {
        var request = Request(id: .number(1), op: "gc")
        request.action = action
        request.generation = generation
        switch action {
        case "threshold":
            let thresholds = try values.map { value in
                guard let threshold = Int(value) else { throw ValidationError("thresholds are integers, not '\(value)'") }
                return threshold
            }
            if !thresholds.isEmpty { request.thresholds = thresholds }
        case "collector":
            guard values.count == 1, CollectionMode(rawValue: values[0]) != nil else {
                throw ValidationError("collector takes one mode: concurrent or stop-the-world")
            }
            request.collector = values[0]
        default:
            guard values.isEmpty else { throw ValidationError("\(action) takes no values") }
        }
        return request
    }

    func run() throws {
        let response = try connection.ask(try request())
        guard !connection.json, let status = response.gc else { return }
        if let collected = status.collected { print("collected \(collected) unreachable objects") }
        if let moved = status.moved { print("moved \(moved) objects") }
        print("""
            automatic collection  \(status.enabled ? "on" : "off")
            mode                  \(status.collector)
            count                 \(status.count.map(String.init).joined(separator: " "))
            thresholds            \(status.thresholds.map(String.init).joined(separator: " "))
            collections           \(status.collections.map(String.init).joined(separator: " "))
            frozen                \(status.frozen)
            mapped                \(status.mappedBytes >> 20) MiB
            """)
    }
}
