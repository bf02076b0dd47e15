// The settings that bound what clients may ask and make (issue 14): each is read from the file
// and HEAPD_*, checked against its range, reaches the service's configuration with its
// documented default, and flags pass the same checks; the `config` op, protocol.md and the
// header of Settings.swift list every setting once.

import Foundation
@testable import HeapService
import Testing

@Suite struct SettingsLimitsTests {
    @Test func theMaximumsAreReadFromTheFileAndTheEnvironment() throws {
        let file = try Settings.parse(file: """
            max_heap_limit_mib = 2048
            max_time_limit_seconds = 120.5
            max_output_bytes = 4096
            max_threads = 8
            max_events = 100
            shared_heap_limit_mib = 512
            """, name: "heapd.toml")
        let configuration = try ServiceConfiguration(settings: file)
        #expect(configuration.maxHeapLimitMiB == 2048)
        #expect(configuration.maxTimeLimitSeconds == 120.5)
        #expect(configuration.maxOutputBytes == 4096)
        #expect(configuration.maxThreads == 8)
        #expect(configuration.maxEvents == 100)
        #expect(configuration.sharedHeapLimitMiB == 512)
        // The defaults, unset, are lowered to the maximums.
        #expect(configuration.defaultHeapLimitMiB == 1024)
        #expect(configuration.defaultTimeLimitSeconds == 120.5)
        let environment = try Settings.parse(environment: ["HEAPD_MAX_THREADS": "3", "HEAPD_SHARED_HEAP_LIMIT_MIB": "64"])
        #expect(try ServiceConfiguration(settings: file.overridden(by: environment)).maxThreads == 3)
        #expect(try ServiceConfiguration(settings: file.overridden(by: environment)).sharedHeapLimitMiB == 64)
    }

    @Test func theDocumentedDefaults() throws {
        let configuration = try ServiceConfiguration(settings: Settings())
        #expect(configuration.defaultHeapLimitMiB == 1024)
        #expect(configuration.maxHeapLimitMiB == 4096)
        #expect(configuration.defaultTimeLimitSeconds == 600)
        #expect(configuration.maxTimeLimitSeconds == 3600)
        #expect(configuration.maxOutputBytes == 1 << 20)
        #expect(configuration.maxThreads == 256)
        #expect(configuration.maxEvents == 10_000)
        #expect(configuration.sharedHeapLimitMiB == 1024)
        #expect(configuration.workloadDirectory == "workloads")
    }

    @Test func valuesOutOfRangeAreRefused() {
        let cases: [(String, String)] = [
            ("HEAPD_MAX_HEAP_LIMIT_MIB", "0"), ("HEAPD_MAX_HEAP_LIMIT_MIB", "\(1 << 30)"),
            ("HEAPD_MAX_TIME_LIMIT_SECONDS", "0"), ("HEAPD_MAX_TIME_LIMIT_SECONDS", "nan"), ("HEAPD_MAX_TIME_LIMIT_SECONDS", "inf"),
            ("HEAPD_MAX_OUTPUT_BYTES", "-1"), ("HEAPD_MAX_OUTPUT_BYTES", "\(1 << 31)"),
            ("HEAPD_MAX_THREADS", "0"), ("HEAPD_MAX_THREADS", "4097"),
            ("HEAPD_MAX_EVENTS", "-1"), ("HEAPD_SHARED_HEAP_LIMIT_MIB", "0"),
            ("HEAPD_THRESHOLDS", "[2147483648]"),
        ]
        for (variable, value) in cases {
            #expect(throws: Settings.Problem.self, "\(variable)=\(value)") { try Settings.parse(environment: [variable: value]) }
        }
    }

    @Test func aDefaultAboveItsMaximumIsAProblem() throws {
        let heap = try Settings.parse(environment: ["HEAPD_HEAP_LIMIT_MIB": "2048", "HEAPD_MAX_HEAP_LIMIT_MIB": "1024"])
        #expect(throws: Settings.Problem(source: "heap_limit_mib", message: "2048 is above max_heap_limit_mib, 1024")) {
            try ServiceConfiguration(settings: heap)
        }
        let time = try Settings.parse(environment: ["HEAPD_TIME_LIMIT_SECONDS": "7200"])
        #expect(throws: Settings.Problem.self) { try ServiceConfiguration(settings: time) }
        let equal = try Settings.parse(environment: ["HEAPD_HEAP_LIMIT_MIB": "512", "HEAPD_MAX_HEAP_LIMIT_MIB": "512"])
        #expect(try ServiceConfiguration(settings: equal).defaultHeapLimitMiB == 512)
    }

    @Test func flagsPassTheSameChecksAndNameTheFlag() throws {
        #expect(try Settings.parse(flags: ["workers": "4", "state_directory": "/tmp/s"]).workers == 4)
        #expect(throws: Settings.Problem(source: "--workers", message: "workers is an integer from 1 to 1024, not 0")) {
            try Settings.parse(flags: ["workers": "0"])
        }
        #expect(throws: Settings.Problem.self) { try Settings.parse(flags: ["workers": "\(Int.max)"]) }
    }

    /// The `config` op shows every setting, and the journal's path as `journal` (the real
    /// heapd's values: DaemonTests.configShowsTheValuesInForce).
    @Test func configShowsEverySetting() throws {
        let config = try #require(try handled(Service(), Request(id: .number(1), op: "config")).config)
        let shown = Set(Settings.keys.map(\.file))
        #expect(shown.subtracting(config.keys).isEmpty, "not shown: \(shown.subtracting(config.keys).sorted())")
        #expect(Set(config.keys).subtracting(shown) == ["journal"])
        #expect(Settings.keys.count == Set(Settings.keys.map(\.file)).count)
    }

    /// protocol.md's table of settings and Settings.swift's header list every setting once, with
    /// its variable.
    @Test func theDocsListEverySettingOnce() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let table = try String(contentsOf: root.appendingPathComponent("docs/protocol.md"), encoding: .utf8)
            .split(separator: "\n").filter { $0.hasPrefix("| `") && $0.contains("| `HEAPD_") }
        let header = try String(contentsOf: root.appendingPathComponent("Sources/HeapService/Settings.swift"), encoding: .utf8)
            .split(separator: "\n").prefix { $0.hasPrefix("//") }.filter { $0.hasPrefix("//   ") && $0.contains(" HEAPD_") }
        #expect(table.count == Settings.keys.count && header.count == Settings.keys.count, "\(table.count) rows, \(header.count) header lines")
        for (key, variable) in Settings.keys {
            #expect(table.filter { $0.hasPrefix("| `\(key)` | `\(variable)` |") }.count == 1, "protocol.md: \(key)")
            #expect(header.filter { $0.hasPrefix("//   \(key) ") && $0.contains(" \(variable) ") }.count == 1, "Settings.swift: \(key)")
        }
    }
}
