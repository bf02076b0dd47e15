// The built-in workload library (workloads/*.hw, beside binary-trees and the seed files): each
// file's params with their defaults (the full benchmark sizes) and a small size for tests that
// run them, which should take well under a second each.

/// One workload of the library.
struct LibraryWorkload {
    /// Path under workloads/.
    var file: String
    /// Every param, in declaration order, with its default.
    var defaults: KeyValuePairs<String, Int64>
    /// Overrides (`--param name=value`) that make a run small.
    var small: [String: Int64]
}

let workloadLibrary: [LibraryWorkload] = [
    LibraryWorkload(file: "gcbench.hw",
                    defaults: ["stretch_depth": 18, "long_lived_depth": 16, "array_size": 500_000, "min_depth": 4, "max_depth": 16],
                    small: ["stretch_depth": 8, "long_lived_depth": 6, "array_size": 1000, "max_depth": 6]),
    LibraryWorkload(file: "gc_collect.hw",
                    defaults: ["loops": 100, "cycles": 100, "links": 20],
                    small: ["loops": 3, "cycles": 10, "links": 4]),
    LibraryWorkload(file: "gc_traversal.hw",
                    defaults: ["levels": 1000, "loops": 100],
                    small: ["levels": 20, "loops": 3]),
    LibraryWorkload(file: "cycle-churn.hw",
                    defaults: ["cycles": 2_000_000, "ring": 64, "samples": 16, "threads": 1],
                    small: ["cycles": 10_000, "ring": 8, "samples": 4, "threads": 2]),
    LibraryWorkload(file: "producer-consumer.hw",
                    defaults: ["objects": 1_000_000, "producers": 1, "consumers": 1, "capacity": 1024],
                    small: ["objects": 10_000, "capacity": 16]),
    LibraryWorkload(file: "larson.hw",
                    defaults: ["threads": 4, "chunks": 5000, "rounds": 100, "generations": 10, "handoff": 100, "min_size": 8, "max_size": 1000],
                    small: ["threads": 2, "chunks": 100, "rounds": 4, "generations": 3, "handoff": 10]),
    LibraryWorkload(file: "shared-refcount.hw",
                    defaults: ["threads": 4, "iterations": 1_000_000, "private": 0],
                    small: ["threads": 2, "iterations": 10_000]),
    LibraryWorkload(file: "weak-cache.hw",
                    defaults: ["lookups": 1_000_000, "keys": 20_000, "hot": 5000],
                    small: ["lookups": 10_000, "keys": 500, "hot": 100]),
    LibraryWorkload(file: "fragmentation.hw",
                    defaults: ["objects": 1_000_000, "rounds": 4],
                    small: ["objects": 2000, "rounds": 2]),
    LibraryWorkload(file: "large-live-heap.hw",
                    defaults: ["live": 1_000_000, "steps": 200_000, "ring": 8],
                    small: ["live": 1000, "steps": 2000, "ring": 4]),
    LibraryWorkload(file: "leaky-cache.hw",
                    defaults: ["requests": 20000, "capacity": 256, "keys": 4096],
                    small: ["requests": 2000, "capacity": 32]),
    LibraryWorkload(file: "slot-stores.hw",
                    defaults: ["n": 50_000_000, "published": 1],
                    small: ["n": 1000]),
]
