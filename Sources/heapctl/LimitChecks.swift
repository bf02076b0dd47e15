// LimitChecks: `--heap-limit`, `--time-limit`, `--threads` and the collector's counted options,
// checked when the command line is parsed, so that no value traps a conversion here (a negative, huge or non-finite one) and
// none that heapd would refuse is sent. Unset, nothing is sent: heapd's own defaults apply.

import ArgumentParser
import HeapService

enum LimitChecks {
    static func heapLimit(_ mebibytes: Int?) throws {
        guard let mebibytes, !Service.heapLimitRange.contains(mebibytes) else { return }
        throw ValidationError("--heap-limit is \(Service.heapLimitRange.lowerBound) to \(Service.heapLimitRange.upperBound) MiB, not \(mebibytes)")
    }

    static func timeLimit(_ seconds: Double?) throws {
        guard let seconds, !(seconds > 0 && seconds <= Service.maximumTimeLimitSeconds) else { return }
        throw ValidationError("--time-limit is above 0 and at most \(Int(Service.maximumTimeLimitSeconds)) seconds, not \(seconds)")
    }

    static func threads(_ count: Int?) throws {
        guard let count, count < 1 else { return }
        throw ValidationError("--threads is at least 1, not \(count)")
    }

    /// An integer option that must lie in `range`: `--pause-workers`, `--validation-assists`,
    /// `--pause-priority-boost`.
    static func option(_ name: String, _ value: Int?, in range: ClosedRange<Int>) throws {
        guard let value, !range.contains(value) else { return }
        throw ValidationError("\(name) is \(range.lowerBound) to \(range.upperBound), not \(value)")
    }
}
