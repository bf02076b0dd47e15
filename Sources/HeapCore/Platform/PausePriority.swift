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
// as systemd/heapd.service sets; its system-call filter allows setpriority). Refused the whole
// boost, the stopper takes what RLIMIT_NICE allows, from then on; refused that too, pauses run
// at the thread's own priority, no system call is tried again, and `state` says so.

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
    /// Nice levels taken off the stopper's own for a pause (0: none;
    /// `CollectorConfiguration.pausePriorityBoostRange`).
    let boost: Int32
    private let refused = Atomic<Bool>(false)
    /// The lowest nice value a raise may ask for: -20 until the system refuses one, then what
    /// RLIMIT_NICE allows.
    private let floor = Atomic<Int32>(-20)
    /// The system's calls, replaced by tests: the calling thread's nice value, setting it (false
    /// when refused), and the lowest nice value RLIMIT_NICE allows (nil: unknown).
    private let ownNice: @Sendable () -> Int32?
    private let setNice: @Sendable (Int32) -> Bool
    private let limit: @Sendable () -> Int32?

    init(boost: Int, ownNice: @escaping @Sendable () -> Int32? = PausePriority.threadNice,
         setNice: @escaping @Sendable (Int32) -> Bool = PausePriority.setThreadNice,
         limit: @escaping @Sendable () -> Int32? = PausePriority.niceLimit) {
        assert(CollectorConfiguration.pausePriorityBoostRange.contains(boost), "heapd: a pause priority boost of \(boost)")
        self.boost = Int32(boost)
        self.ownNice = ownNice
        self.setNice = setNice
        self.limit = limit
    }

    var state: PausePriorityState {
        boost == 0 ? .off : refused.load(ordering: .relaxed) ? .refused : .raised
    }

    /// Raises the calling thread's priority; returns the nice value `restore` puts back, or nil
    /// when nothing changed.
    func raise() -> Int32? {
        guard boost > 0, !refused.load(ordering: .relaxed), let own = ownNice() else { return nil }
        let raised = max(own - boost, floor.load(ordering: .relaxed))
        guard raised < own else { return nil }
        if setNice(raised) { return own }
        // Refused: as far as RLIMIT_NICE allows, if that is a raise at all.
        guard let allowed = limit(), allowed > raised, allowed < own, setNice(allowed) else {
            refused.store(true, ordering: .relaxed)
            return nil
        }
        floor.store(allowed, ordering: .relaxed)
        return own
    }

    /// Puts back the nice value `raise` returned (lowering a priority needs no privilege).
    func restore(_ own: Int32?) {
        guard let own else { return }
        _ = setNice(own)
    }

    /// The calling thread's nice value (Linux keeps one per thread: `who` 0 is the caller).
    @Sendable static func threadNice() -> Int32? {
        errno = 0
        let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        return nice == -1 && errno != 0 ? nil : nice
    }

    @Sendable static func setThreadNice(_ nice: Int32) -> Bool {
        setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, nice) == 0
    }

    /// The lowest nice value RLIMIT_NICE lets the thread set: a limit of n allows 20 - n.
    @Sendable static func niceLimit() -> Int32? {
        var limit = rlimit()
        guard getrlimit(__rlimit_resource_t(__RLIMIT_NICE.rawValue), &limit) == 0 else { return nil }
        return Int32(20 - Int(min(limit.rlim_cur, 40)))
    }
}
