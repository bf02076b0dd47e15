// PausePriority: the stopper's scheduling priority, raised for the length of each pause.
//
// A pause holds every mutator while one thread, the stopper, does its work; a CPU taken from
// the stopper is taken from all of them. On a machine whose CPUs are all busy, the scheduler
// (Linux's EEVDF) gave the stopper's CPU to another process of the same priority for a tick or
// two — pauses of 4 or 8 ms around some 60 µs of work — because when the mutators park, the
// CPUs they leave idle do not pull a runnable thread over at once (a CPU that was busy skips
// the new-idle balance). So the stopper lowers its own nice value by `boost` from before it
// raises the stop flag until everyone is resumed, and puts it back after: two system calls a
// pause. Linux keeps nice values per thread, so only the stopper's changes.
//
// Raising a priority needs CAP_SYS_NICE or an RLIMIT_NICE that allows it (systemd's LimitNICE=,
// as systemd/heapd.service sets; its system-call filter allows setpriority). Where it is refused, pauses run at the thread's own priority,
// the refusal is kept (no system call is tried again) and `state` reports it.

import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Whether pauses run with the stopper's priority raised.
public enum PausePriorityState: String, Sendable, Equatable {
    /// Not asked for (a boost of 0).
    case off
    /// Each pause raises it (or will, at its first).
    case raised
    /// The system refused it: pauses run at the stopper's own priority.
    case refused
}

final class PausePriority: Sendable {
    /// Nice levels taken off the stopper's own for a pause, 0 to 20 (0: none).
    let boost: Int32
    private let refused = Atomic<Bool>(false)

    init(boost: Int) {
        self.boost = Int32(min(max(boost, 0), 20))
    }

    var state: PausePriorityState {
        boost == 0 ? .off : refused.load(ordering: .relaxed) ? .refused : .raised
    }

    /// Raises the calling thread's priority; returns the nice value `restore` puts back, or nil
    /// when nothing changed.
    func raise() -> Int32? {
        guard boost > 0, !refused.load(ordering: .relaxed) else { return nil }
        errno = 0
        let own = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        guard own != -1 || errno == 0 else { return nil }
        let raised = max(own - boost, -20)
        guard raised < own else { return nil }
        guard setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, raised) == 0 else {
            refused.store(true, ordering: .relaxed)
            return nil
        }
        return own
    }

    /// Puts back the nice value `raise` returned (lowering a priority needs no privilege).
    func restore(_ own: Int32?) {
        guard let own else { return }
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, own)
    }
}
