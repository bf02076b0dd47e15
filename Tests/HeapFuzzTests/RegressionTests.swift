// Every reproducer a fuzz campaign found (Regressions/*.hw, shrunk by `heapfuzz --reduce`) is
// replayed by `heapfuzz FILE` in a child process — a reproducer of a crash must not take the
// test process down with it — from the build folder the tests run from: a program under the six
// configurations (the program oracle: no leak, a sound heap, no error, the same output
// everywhere), a `frontend-*.hw` source through the front end and a run under each
// configuration. Failures that depend on timing showed in some runs only, so each file is
// replayed 20 times; a replay that stops making progress for a minute is a hang (heapfuzz's
// watchdog ends it with status 3).

import Testing

@Suite struct RegressionTests {
    @Test func everyReproducerPasses() throws {
        let files = regressionFiles()
        #expect(!files.isEmpty, "Regressions/ holds the reproducers")
        for file in files {
            guard let child = try runHeapfuzz(["--repeat", "20", "--hang-seconds", "60", file.path]) else { return }
            if child.crashed {
                Issue.record("\(file.lastPathComponent): heapfuzz crashed (signal \(child.status))")
            } else if child.status != 0 {
                Issue.record("\(file.lastPathComponent) failed:\n\(child.output)")
            }
        }
    }
}
