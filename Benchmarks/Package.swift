// swift-tools-version:6.1
// heapd's benchmarks: a package of their own, so that the main package does not depend on
// package-benchmark. Tools 6.1 is needed for `traits:`; the MallocInterposer trait is mandatory
// here, because the default trait pulls in a package the local mirror does not have.
import Foundation
import PackageDescription

// SwiftPM names a path dependency after its folder, so the main package's identity is whatever the
// checkout is called (`heapd`, `main`, ...). Work it out instead of assuming it.
let mainPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "heapd-benchmarks",
    dependencies: [
        // The main package (its identity is its folder's name: see `mainPackage`).
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // What every benchmark and probe shares: heapd and glibc behind one interface, joinable
        // worker threads, a pointer array.
        .target(
            name: "BenchmarkSupport",
            dependencies: [.product(name: "HeapCore", package: mainPackage)],
            path: "Sources/BenchmarkSupport"
        ),
        // heapd against glibc, side by side: batch, tight loop, cross-thread free, 2-thread scaling.
        .executableTarget(
            name: "AllocatorBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "HeapCore", package: mainPackage),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/AllocatorBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // The object layer: biased against atomic counting, heapd objects against Swift ARC,
        // shared against private objects on two threads.
        .executableTarget(
            name: "ObjectBenchmarks",
            dependencies: [
                "BenchmarkSupport",
                .product(name: "HeapCore", package: mainPackage),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/ObjectBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Allocate + link + free of a 2-slot object against Swift ARC, with no malloc interposer.
        .executableTarget(
            name: "LinkProbe",
            dependencies: ["BenchmarkSupport", .product(name: "HeapCore", package: mainPackage)],
            path: "Sources/LinkProbe"
        ),
        // Round trips of ping and stats to a running heapd.
        .executableTarget(
            name: "ProtocolProbe",
            dependencies: [.product(name: "HeapService", package: mainPackage)],
            path: "Sources/ProtocolProbe"
        ),
        // 2,000,000 two-object cycles dropped on one thread, collected automatically.
        .executableTarget(
            name: "CycleChurnProbe",
            dependencies: [.product(name: "HeapCore", package: mainPackage)],
            path: "Sources/CycleChurnProbe"
        ),
        // A full collection of a live heap of a million objects.
        .executableTarget(
            name: "CollectorProbe",
            dependencies: [.product(name: "HeapCore", package: mainPackage)],
            path: "Sources/CollectorProbe"
        ),
        // RSS before, at the peak of, and after 1 GiB of small blocks (one process per run).
        .executableTarget(
            name: "RSSProbe",
            dependencies: ["BenchmarkSupport", .product(name: "HeapCore", package: mainPackage)],
            path: "Sources/RSSProbe"
        ),
        // A bare allocate+free loop for callgrind's instruction count (perf events are not
        // available in this VM, so package-benchmark's .instructions metric cannot be used).
        .executableTarget(
            name: "FastPathProbe",
            dependencies: ["BenchmarkSupport", .product(name: "HeapCore", package: mainPackage)],
            path: "Sources/FastPathProbe"
        ),
        // binary-trees against HeapCore with no interpreter: the floor under the interpreted one.
        .executableTarget(
            name: "HeapBinaryTrees",
            dependencies: [.product(name: "HeapCore", package: mainPackage)],
            path: "Sources/HeapBinaryTrees"
        ),
        // Side-by-side references for whole-process timing against `heapctl run`: the work of three
        // workloads (workloads/*.hw) in plain Swift (final classes, ARC), printing the same lines.
        // They depend on nothing, heapd included; scripts/compare builds and runs them.
        .executableTarget(name: "SwiftBinaryTrees", path: "Sources/SwiftBinaryTrees"),
        .executableTarget(name: "SwiftCycleChurn", path: "Sources/SwiftCycleChurn"),
        .executableTarget(name: "SwiftProducerConsumer", path: "Sources/SwiftProducerConsumer"),
    ],
    swiftLanguageModes: [.v6]
)
