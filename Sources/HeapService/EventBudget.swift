// EventBudget: how many `phase` and `gc` events one streamed run may send (the daemon's
// max_events). The program decides how often they come (`while 1 { phase "p" { } }`), so they
// are bounded as its output is: past the bound they are dropped, counted, and the run's last
// response says how many (`droppedEvents`).
//
//   dropped == max(asked − limit, 0)
//
// Any thread (a run's threads end phases, its collector reports collections). Lock-free: one
// atomic word, relaxed, because it orders nothing — it only counts.

import Synchronization

final class EventBudget: Sendable {
    let limit: Int
    private let asked = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// Whether one more event may be sent; counts it either way.
    func take() -> Bool {
        asked.wrappingAdd(1, ordering: .relaxed).newValue <= limit
    }

    /// Events refused so far.
    var dropped: Int { max(asked.load(ordering: .relaxed) - limit, 0) }
}
