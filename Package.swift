// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "heapd",
    products: [
        .library(name: "HeapCore", targets: ["HeapCore"]),
    ],
    dependencies: [
        // Pause-time histograms for the collector's statistics (Collector/GCStats.swift).
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // libnuma, as a system library: topology queries, mbind, move_pages.
        .systemLibrary(
            name: "CNuma",
            path: "Sources/CNuma",
            pkgConfig: "numa",
            providers: [.apt(["libnuma-dev"])]
        ),
        // The few things Swift cannot reach on its own: sched_getcpu, thread affinity,
        // C thread-local storage with inline accessors, a compiler barrier.
        .target(
            name: "CHeapShim",
            path: "Sources/CHeapShim"
        ),
        .target(
            name: "HeapCore",
            dependencies: ["CNuma", "CHeapShim", .product(name: "Histogram", package: "hdrhistogram-swift")],
            path: "Sources/HeapCore"
        ),
        .testTarget(
            name: "HeapCoreTests",
            dependencies: ["HeapCore", "CHeapShim"],
            path: "Tests/HeapCoreTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
