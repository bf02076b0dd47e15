// ProtocolProbe: request round-trip latency to a running heapd — 10,000 sequential `ping` and
// `stats` requests on one connection (each: encode, write, the daemon decodes/answers, read,
// decode), reported as p50/p99/max.
//
//   usage: ProtocolProbe SOCKET [count]

import Foundation
import HeapService

let arguments = CommandLine.arguments
guard arguments.count > 1 else {
    print("usage: ProtocolProbe SOCKET [count]")
    exit(2)
}
let count = arguments.count > 2 ? Int(arguments[2]) ?? 10_000 : 10_000
let client = try Client(socketPath: arguments[1])

for op in ["ping", "stats"] {
    let line = #"{"id": 1, "op": "\#(op)"}"#
    for _ in 0..<500 { try client.send(line); _ = try client.receiveLine() }      // warm-up
    var times: [Double] = []
    times.reserveCapacity(count)
    for _ in 0..<count {
        let start = DispatchTime.now().uptimeNanoseconds
        try client.send(line)
        _ = try client.receive()
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1000)
    }
    times.sort()
    print(String(format: "%@: %d round trips, p50 %.1f µs, p99 %.1f µs, max %.1f µs", op, count,
                 times[count / 2], times[count * 99 / 100], times[count - 1]))
}
