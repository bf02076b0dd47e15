// Service+SharedHeap: the `gc` op — Python's gc module, on the daemon's long-lived heap (the
// one `"heap": "shared"` runs join). Actions that collect or freeze stop the heap's world, so
// every action runs on a thread of the run pool attached to the heap as a mutator, never on the
// caller's thread.
//
//   action      does                                         may a member (Access.swift)
//   status      nothing: the answer is the collector's state  yes
//   collect     a collection of `generation` (default 2)      yes
//   enable, disable, threshold (`thresholds`), collector      no: they change the collector
//   (`collector`), freeze, unfreeze

import HeapCore
import HeapWorkload

/// What `gc` may be asked to do, in the order the bad-action message lists them.
enum GCAction: String, CaseIterable {
    case collect, enable, disable, threshold, collector, freeze, unfreeze, status

    /// The action changes the shared heap's collector (owners only).
    var changesCollector: Bool {
        switch self {
        case .collect, .status: false
        case .enable, .disable, .threshold, .collector, .freeze, .unfreeze: true
        }
    }

    static var listed: String {
        allCases.dropLast().map(\.rawValue).joined(separator: ", ") + " or " + allCases.last!.rawValue
    }
}

extension Service {
    func gc(_ request: Request, reply: @escaping @Sendable (Response) -> Void) {
        let id = request.id
        let name = request.action ?? GCAction.status.rawValue
        guard let action = GCAction(rawValue: name) else {
            return fail(reply, id, .badRequest, "gc action is \(GCAction.listed), not '\(name)'")
        }
        // generation and thresholds are in range (Request+Validation.swift).
        if action == .threshold && request.thresholds == nil {
            return fail(reply, id, .badRequest, "threshold needs thresholds: one to three integers from 0 to \(Service.thresholdRange.upperBound)")
        }
        let mode = request.collector.flatMap(CollectionMode.init(rawValue:))
        if action == .collector && mode == nil {
            return fail(reply, id, .badRequest, "collector needs collector: concurrent or stop-the-world, not '\(request.collector ?? "")'")
        }
        let heap = sharedHeap.heap
        runQueue.async {
            heap.attachCurrentThread()
            var collected: Int?, moved: Int?
            switch action {
            case .collect: collected = heap.collect(generation: request.generation ?? 2).collected
            case .enable: heap.setAutomaticCollection(enabled: true)
            case .disable: heap.setAutomaticCollection(enabled: false)
            case .threshold:
                if let values = request.thresholds, let first = values.first {
                    heap.setThresholds(first, values.count > 1 ? values[1] : nil, values.count > 2 ? values[2] : nil)
                }
            case .collector: if let mode { heap.collectionMode = mode }
            case .freeze: moved = heap.freeze()
            case .unfreeze: moved = heap.unfreeze()
            case .status: break
            }
            let count = heap.count, thresholds = heap.thresholds
            let status = SharedHeapStatus(enabled: heap.isAutomaticCollectionEnabled, collector: heap.collectionMode.rawValue,
                                          count: [count.0, count.1, count.2],
                                          thresholds: [thresholds.0, thresholds.1, thresholds.2],
                                          collections: heap.generationStats.map(\.collections), frozen: heap.freezeCount,
                                          mappedBytes: heap.allocator.mappedBytes, collected: collected, moved: moved)
            heap.detachCurrentThread()
            var response = Response(id: id, type: "gc")
            response.gc = status
            reply(response)
        }
    }

    /// `report`: the shared heap's memory report, after turning its tracing on or off when
    /// `trace` says so. On a thread of the pool: the census stops the world, as a mutator.
    func report(_ request: Request, reply: @escaping @Sendable (Response) -> Void) {
        let shared = sharedHeap
        runQueue.async {
            if let trace = request.trace { shared.setTracing(trace) }
            var response = Response(id: request.id, type: "report")
            response.memoryReport = shared.memoryReport()
            reply(response)
        }
    }
}
