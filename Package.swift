// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "heapd",
    products: [
        .library(name: "HeapCore", targets: ["HeapCore"]),
        .library(name: "HeapWorkload", targets: ["HeapWorkload"]),
        .library(name: "HeapService", targets: ["HeapService"]),
        .executable(name: "heapctl", targets: ["heapctl"]),
        .executable(name: "heapd", targets: ["heapd"]),
        .executable(name: "heapfuzz", targets: ["heapfuzz"]),
    ],
    dependencies: [
        // Pause-time histograms for the collector's statistics (Collector/GCStats.swift).
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        // heapctl's command line.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // heapd's Unix-socket server (HeapService).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // heapd's log lines (to stderr, which journald takes under systemd: DaemonLog.swift).
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
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
        // The workload language: front end (lexer, parser, checker) now; compiler and interpreter
        // on top of HeapCore later.
        .target(
            name: "HeapWorkload",
            dependencies: ["HeapCore"],
            path: "Sources/HeapWorkload"
        ),
        // NIOHTTP1: the metrics over HTTP (MetricsServer), parsed by NIO's HTTP codec.
        .target(
            name: "HeapService",
            dependencies: ["HeapWorkload", "HeapCore", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                           .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "Logging", package: "swift-log")],
            path: "Sources/HeapService"
        ),
        .executableTarget(
            name: "heapctl",
            dependencies: ["HeapService", "HeapWorkload", "HeapCore", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/heapctl"
        ),
        .executableTarget(
            name: "heapd",
            dependencies: ["HeapService", "HeapCore", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                           .product(name: "Logging", package: "swift-log")],
            path: "Sources/heapd"
        ),
        // The fuzzers (issue 12): seeded workload programs run under every reference-counting
        // policy with automatic collection on and off, and mutated sources for the front end;
        // a library so that the tests run bounded campaigns, and `heapfuzz` (scripts/fuzz, CI)
        // to run them for as long as asked.
        .target(
            name: "HeapFuzz",
            dependencies: ["HeapWorkload", "HeapCore"],
            path: "Sources/HeapFuzz"
        ),
        .executableTarget(
            name: "heapfuzz",
            dependencies: ["HeapFuzz", "HeapWorkload", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/heapfuzz"
        ),
        .testTarget(
            name: "HeapCoreTests",
            dependencies: ["HeapCore", "CHeapShim"],
            path: "Tests/HeapCoreTests"
        ),
        .testTarget(
            name: "HeapServiceTests",
            dependencies: ["HeapService", "HeapWorkload", .product(name: "NIOCore", package: "swift-nio")],
            path: "Tests/HeapServiceTests"
        ),
        // heapctl's pure parts (bench's medians, table, CSV, chart), through @testable import.
        .testTarget(
            name: "HeapctlTests",
            dependencies: ["heapctl"],
            path: "Tests/HeapctlTests"
        ),
        // Bounded fuzz campaigns, and every reproducer a campaign found (Regressions/*.hw,
        // read through #filePath), replayed under the six configurations.
        .testTarget(
            name: "HeapFuzzTests",
            dependencies: ["HeapFuzz", "HeapWorkload", "HeapCore"],
            path: "Tests/HeapFuzzTests",
            exclude: ["Regressions"]
        ),
        .testTarget(
            name: "HeapWorkloadTests",
            dependencies: ["HeapWorkload"],
            path: "Tests/HeapWorkloadTests",
            // Expected outputs, read through #filePath like the workload files.
            exclude: ["Fixtures"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
