// MemoryBudget: how much memory an allocator has mapped, against its limit.
//
//   mapped == 4 MiB × arenas + Σ large block sizes        (every pool of the allocator)
//
// A pool reserves before it maps and releases after it unmaps; a reservation that would take
// `mapped` past `limit` fails, and the allocation that wanted it returns nil (the caller reports
// "heap limit"). Lock-free: one atomic word, relaxed, because it orders nothing else — it only
// counts.

import Synchronization

final class MemoryBudget: Sendable {
    let limit: Int
    private let mapped = Atomic<Int>(0)
    /// The most `mapped` has been (a high-water mark; raised by `reserve` and `adjust`).
    private let peak = Atomic<Int>(0)

    init(limit: Int) {
        self.limit = limit
    }

    var mappedBytes: Int { mapped.load(ordering: .relaxed) }
    var peakBytes: Int { peak.load(ordering: .relaxed) }

    private func raisePeak(to value: Int) {
        var current = peak.load(ordering: .relaxed)
        while value > current {
            let (exchanged, original) = peak.compareExchange(expected: current, desired: value, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }

    /// Takes `bytes` from the budget; false (and nothing taken) when that would pass the limit.
    func reserve(_ bytes: Int) -> Bool {
        var current = mapped.load(ordering: .relaxed)
        while true {
            guard current <= limit - bytes else { return false }
            let (exchanged, original) = mapped.compareExchange(expected: current, desired: current + bytes, ordering: .relaxed)
            if exchanged {
                raisePeak(to: current + bytes)
                return true
            }
            current = original
        }
    }

    func release(_ bytes: Int) {
        mapped.wrappingSubtract(bytes, ordering: .relaxed)
    }

    /// Corrects a reservation to what was really mapped (never fails: the mapping exists).
    func adjust(by bytes: Int) {
        raisePeak(to: mapped.wrappingAdd(bytes, ordering: .relaxed).newValue)
    }
}
