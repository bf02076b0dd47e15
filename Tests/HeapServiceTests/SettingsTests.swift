// heapd's settings: the file's flat TOML, HEAPD_* variables, the order in which they override
// each other, and errors that name the line.

import HeapService
import Testing

@Suite struct SettingsTests {
    @Test func theFileReadsEveryKindOfValue() throws {
        let settings = try Settings.parse(file: """
            # heapd.toml
            socket = "/run/heapd/h.sock"   # a comment after a value
            workers = 4
            queue_limit = 1_000
            time_limit_seconds = 2.5
            rc = "atomic"
            thresholds = [500, 5, 5]
            numa_nodes = 2
            allow_group = "heap#users"
            pin_threads = true
            pause_workers = 3
            validation_assists = 2
            pause_priority_boost = 0
            collector = "stop-the-world"
            """, name: "heapd.toml")
        #expect(settings.socket == "/run/heapd/h.sock")
        #expect(settings.workers == 4)
        #expect(settings.queueLimit == 1000)
        #expect(settings.timeLimitSeconds == 2.5)
        #expect(settings.rc == "atomic")
        #expect(settings.thresholds == [500, 5, 5])
        #expect(settings.numaNodes == 2)
        #expect(settings.allowGroup == "heap#users")
        #expect(settings.workloads == nil)
        #expect(settings.pinThreads == true)
        #expect(settings.pauseWorkers == 3)
        #expect(settings.validationAssists == 2)
        #expect(settings.pausePriorityBoost == 0)
        #expect(settings.collector == "stop-the-world")
    }

    @Test func mistakesAreErrorsThatNameTheLine() {
        let cases: [(String, String)] = [
            ("workers = 4\nwrokers = 5", "heapd.toml:2: unknown setting 'wrokers'"),
            ("socket = /tmp/x", "heapd.toml:1: socket is a string"),
            ("workers = many", "heapd.toml:1: workers is an integer"),
            ("\n\nrc = \"optimistic\"", "heapd.toml:3: rc is biased, atomic or global-lock"),
            ("thresholds = 700", "heapd.toml:1: thresholds is an array"),
            ("pause_workers = 0", "heapd.toml:1: pause_workers is an integer from 1 to 256"),
            ("validation_assists = 4", "heapd.toml:1: validation_assists is an integer from 0 to 3"),
            ("validation_assists = -1", "heapd.toml:1: validation_assists is an integer from 0 to 3"),
            ("pause_priority_boost = 21", "heapd.toml:1: pause_priority_boost is an integer from 0 to 20"),
            ("pause_priority_boost = \"high\"", "heapd.toml:1: pause_priority_boost is an integer"),
            ("collector = \"incremental\"", "heapd.toml:1: collector is concurrent or stop-the-world, not incremental"),
            ("collector = concurrent", "heapd.toml:1: collector is a string"),
            ("just words", "heapd.toml:1: expected key = value"),
        ]
        for (text, prefix) in cases {
            do {
                _ = try Settings.parse(file: text, name: "heapd.toml")
                Issue.record("\(text) was accepted")
            } catch {
                #expect(error.description.hasPrefix(prefix), "\(error.description)")
            }
        }
    }

    @Test func environmentOverridesTheFileAndFlagsOverrideBoth() throws {
        let file = try Settings.parse(file: "workers = 2\nrc = \"biased\"\nsocket = \"/a\"", name: "f")
        let environment = try Settings.parse(environment: ["HEAPD_WORKERS": "3", "HEAPD_RC": "global-lock", "HEAPD_COLLECTOR": "stop-the-world", "PATH": "/bin"])
        var flags = Settings()
        flags.workers = 8
        let merged = file.overridden(by: environment).overridden(by: flags)
        #expect(merged.workers == 8)
        #expect(merged.rc == "global-lock")
        #expect(merged.socket == "/a")
        #expect(merged.collector == "stop-the-world")
        #expect(throws: Settings.Problem.self) { try Settings.parse(environment: ["HEAPD_WORKERS": "0"]) }
    }

    /// A time limit every run would trap converting (issue 14) is refused where it is read.
    @Test func limitsThatCannotBeConvertedAreRefused() {
        for value in ["-1", "0", "inf", "nan", "1e300"] {
            #expect(throws: Settings.Problem.self, "\(value)") { try Settings.parse(environment: ["HEAPD_TIME_LIMIT_SECONDS": value]) }
        }
        for value in ["0", "-5", "\(1 << 30)"] {
            #expect(throws: Settings.Problem.self, "\(value)") { try Settings.parse(environment: ["HEAPD_HEAP_LIMIT_MIB": value]) }
        }
        #expect((try? Settings.parse(environment: ["HEAPD_TIME_LIMIT_SECONDS": "2.5"]))?.timeLimitSeconds == 2.5)
    }
}
