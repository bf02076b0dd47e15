// MemoryReport: what a run's memory diagnostics found (RunResult.memoryReport; heapctl run
// --memory-report prints it, --timeline draws its samples).
//
//   snapshots     one per `snapshot "name"` statement run, then "end" (main and every thread
//                 done, before the run releases what it holds): live objects by group and by type
//   differences   consecutive snapshots, "end" included: the groups that changed most
//                 (tracemalloc's compare_to, by bytes)
//   leaks         the groups alive at the end, each with a shortest chain from a root and how
//                 many of its objects no root reaches (cyclic garbage not collected yet)
//                 (and each snapshot has the allocator's FragmentationReport at its moment)
//   timeline      live, mapped and resident bytes and collections, sampled through the run
//
// A group is an allocation site (`file:line function`) when the object's site was recorded
// (tracing on), else "(no site) Type": without tracing the report is a type histogram.

import HeapCore

public struct MemoryReport: Sendable, Codable, Equatable {
    /// Objects and bytes of one group or type.
    public struct Entry: Sendable, Codable, Equatable {
        public var name: String
        public var objects: Int
        public var bytes: Int
    }

    /// A group's chain from a root (`ReferenceChain.text` reads it).
    public struct Retention: Sendable, Codable, Equatable {
        public var group: String
        public var chain: ReferenceChain
    }

    public struct Snapshot: Sendable, Codable, Equatable {
        public var name: String
        /// Seconds since the run began.
        public var seconds: Double
        public var objects: Int
        public var bytes: Int
        /// By group (site, or type when no site), most bytes first; at most `maximumEntries`.
        public var groups: [Entry]
        /// By type, most bytes first; at most `maximumEntries`.
        public var types: [Entry]
        /// Chains to the largest groups (at most `maximumChains`).
        public var retention: [Retention]
        /// The allocator at that moment.
        public var fragmentation: FragmentationReport
    }

    /// A group's change between two snapshots.
    public struct Growth: Sendable, Codable, Equatable {
        public var name: String
        public var objects: Int
        public var bytes: Int
        public var objectsDelta: Int
        public var bytesDelta: Int
    }

    public struct Difference: Sendable, Codable, Equatable {
        public var from: String
        public var to: String
        /// Largest changes first (by |bytesDelta|), at most `maximumEntries`.
        public var changes: [Growth]
    }

    /// A group alive when the run ended.
    public struct Leak: Sendable, Codable, Equatable {
        public var group: String
        public var objects: Int
        public var bytes: Int
        /// Objects of the group that no root reaches: garbage the collector has not freed.
        public var unreachable: Int
        /// A shortest chain to one of its reachable objects (nil when none is reachable).
        public var chain: ReferenceChain?
        /// Its type has a finalizer and its objects sit in cycles.
        public var finalizerCycle: Bool
    }

    public struct Sample: Sendable, Codable, Equatable {
        public var seconds: Double
        /// Bytes of blocks in use (size-class rounding included).
        public var liveBytes: Int
        public var mappedBytes: Int
        public var residentBytes: Int
        public var collections: Int
    }

    public static let maximumEntries = 25
    public static let maximumChains = 10

    /// `run`, or `shared heap` (the `report` op: no end, its `leaks` are save-all garbage).
    public var scope: String
    /// Whether allocation sites were traced when the run ended.
    public var tracing: Bool
    public var snapshots: [Snapshot]
    public var differences: [Difference]
    public var leaks: [Leak]
    public var timeline: [Sample]
    /// When each collection ended (seconds since the run began), for the timeline's marks.
    public var collectionSeconds: [Double]
}
