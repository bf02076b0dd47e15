// The connection settings (issue 14): read from the file and the environment, refused out of
// range, with their defaults.

import Foundation
import HeapService
import Testing

@Suite struct ConnectionSettingsTests {
    @Test func theConnectionSettingsAreReadFromTheFileAndTheEnvironment() throws {
        let file = try Settings.parse(file: """
            max_connections = 2_000
            max_connections_per_user = 100
            idle_timeout_seconds = 0
            output_high_water_bytes = 1048576
            """, name: "heapd.toml")
        #expect(file.maxConnections == 2000)
        #expect(file.maxConnectionsPerUser == 100)
        #expect(file.idleTimeoutSeconds == 0)
        #expect(file.outputHighWaterBytes == 1 << 20)
        let environment = try Settings.parse(environment: ["HEAPD_MAX_CONNECTIONS_PER_USER": "7", "HEAPD_IDLE_TIMEOUT_SECONDS": "30"])
        let merged = file.overridden(by: environment)
        #expect(merged.maxConnections == 2000)
        #expect(merged.maxConnectionsPerUser == 7)
        #expect(merged.idleTimeoutSeconds == 30)
    }

    @Test func outOfRangeValuesAreRefusedNamingTheRange() {
        let cases: [(String, String)] = [
            ("max_connections = 0", "max_connections is an integer from 1 to 1000000"),
            ("max_connections_per_user = -3", "max_connections_per_user is an integer from 1 to 1000000"),
            ("idle_timeout_seconds = -1", "idle_timeout_seconds is an integer from 0 to 604800"),
            ("idle_timeout_seconds = 2.5", "idle_timeout_seconds is an integer from 0 to 604800"),
            ("output_high_water_bytes = 1000", "output_high_water_bytes is an integer from 65536 to 1073741824"),
        ]
        for (text, message) in cases {
            #expect(throws: Settings.Problem(source: "heapd.toml:1", message: message + ", not " + text.split(separator: "=")[1].trimmingCharacters(in: .whitespaces))) {
                try Settings.parse(file: text, name: "heapd.toml")
            }
        }
    }
}
