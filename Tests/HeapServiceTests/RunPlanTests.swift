// RunPlan, in process: a run request becomes a checked program and its configuration, or a coded
// error — which field, which default, which maximum; `gc: false` keeps the configured collector
// but for automatic collection; syntax errors are parse_error and checker errors check_error,
// however many there are; an exec piece's configuration.

import Foundation
import HeapCore
@testable import HeapService
import HeapWorkload
import Testing

@Suite struct RunPlanTests {
    private let sharedHeap = SharedHeap(collector: .manual)

    private func request(_ configure: (inout Request) -> Void = { _ in }) -> Request {
        var request = Request(id: .number(1), op: "run")
        request.source = "param threads = 1\nmain { print threads }"
        configure(&request)
        return request
    }

    /// The plan, or the error, of `request` under `settings`, with a library of one workload.
    private func plan(_ request: Request, _ settings: ServiceConfiguration = ServiceConfiguration()) -> Result<RunPlan, CodedError> {
        Result { () throws(CodedError) in
            try RunPlan(request, settings: settings, sharedHeap: sharedHeap) { $0 == "tiny" ? "main { print 7 }" : nil }
        }
    }

    private func refusal(_ request: Request, _ settings: ServiceConfiguration = ServiceConfiguration()) -> CodedError? {
        if case .failure(let error) = plan(request, settings) { return error }
        return nil
    }

    @Test func aRunNeedsExactlyOneOfSourceAndWorkloadAndAPlainLibraryName() throws {
        #expect(refusal(request { $0.source = nil })?.code == .badRequest)
        #expect(refusal(request { $0.workload = "tiny" })?.message == "a run needs exactly one of source and workload")
        for name in ["", "../../etc/passwd", "tiny\u{0}", "no-such", "a/b"] {
            let error = refusal(request { $0.source = nil; $0.workload = name })
            #expect(error == CodedError(.badRequest, "no library workload named '\(name)'"), "\(name)")
        }
        let library = try plan(request { $0.source = nil; $0.workload = "tiny" }).get()
        #expect(library.fileName == "tiny.hw")
        #expect(try plan(request { $0.fileName = "mine.hw" }).get().fileName == "mine.hw")
        #expect(try plan(request()).get().fileName == "request.hw")
    }

    @Test func namesTheRunnerDoesNotKnowAreBadRequestsThatNameThem() {
        #expect(refusal(request { $0.rc = "optimistic" })?.message.contains("rc must be biased, atomic or global-lock") == true)
        #expect(refusal(request { $0.collector = "incremental" })?.message.contains("collector must be concurrent or stop-the-world") == true)
        #expect(refusal(request { $0.heap = "elsewhere" }) == CodedError(.badRequest, "heap is fresh or shared, not 'elsewhere'"))
        #expect(refusal(request { $0.params = ["nosuch": 1] })?.code == .badRequest)
        #expect(refusal(request { $0.source = "main { }"; $0.threads = 2 })?.code == .badRequest)
    }

    @Test func whatTheRequestLeavesOutComesFromTheSettings() throws {
        var settings = ServiceConfiguration()
        settings.defaultPolicy = "atomic"
        settings.thresholds = [500, 5, 6]
        settings.pauseWorkers = 3
        settings.collectionMode = .stopTheWorld
        settings.defaultHeapLimitMiB = 64
        settings.defaultTimeLimitSeconds = 2.5
        settings.maxOutputBytes = 4096
        settings.maxThreads = 9
        settings.numaNodes = 2
        let configuration = try plan(request(), settings).get().configuration
        #expect(configuration.policy == .atomic)
        #expect(configuration.collector.thresholds == (500, 5, 6))
        #expect(configuration.collector.pauseWorkers == 3)
        #expect(configuration.collector.mode == .stopTheWorld)
        #expect(configuration.collector.automatic)
        #expect(configuration.heapLimitBytes == 64 << 20)
        #expect(configuration.timeLimit == .milliseconds(2500))
        #expect(configuration.maxOutputBytes == 4096 && configuration.maxThreads == 9)
        #expect(configuration.simulatedNumaNodes == 2)
        #expect(configuration.seed == 1)
        #expect(configuration.sharedHeap == nil)
        // What it names wins.
        let asked = try plan(request {
            $0.rc = "global-lock"; $0.collector = "concurrent"; $0.heapLimitMiB = 8; $0.timeLimitSeconds = 0.5
            $0.threads = 4; $0.seed = 99; $0.heap = "shared"; $0.stream = true; $0.exclusive = true
        }, settings).get()
        #expect(asked.configuration.policy == .globalLock)
        #expect(asked.configuration.collector.mode == .concurrent)
        #expect(asked.configuration.heapLimitBytes == 8 << 20)
        #expect(asked.configuration.timeLimit == .milliseconds(500))
        #expect(asked.configuration.params == ["threads": 4])
        #expect(asked.configuration.seed == 99)
        #expect(asked.configuration.sharedHeap === sharedHeap)
        #expect(asked.stream && asked.exclusive && !asked.detach)
    }

    /// `gc: false` turns automatic collection off and nothing else: the thresholds, the pause
    /// workers and the mode stay as configured (it used to swap in a manual collector with
    /// Python's thresholds and the default pause workers).
    @Test func gcFalseTurnsOffAutomaticCollectionAndKeepsTheRestOfTheCollector() throws {
        var settings = ServiceConfiguration()
        settings.thresholds = [500, 5, 6]
        settings.pauseWorkers = 3
        settings.validationAssists = 1
        settings.pausePriorityBoost = 4
        let collector = try plan(request { $0.gc = false; $0.collector = "stop-the-world" }, settings).get().configuration.collector
        #expect(!collector.automatic)
        #expect(collector.thresholds == (500, 5, 6))
        #expect(collector.pauseWorkers == 3)
        #expect(collector.validationAssists == 1)
        #expect(collector.pausePriorityBoost == 4)
        #expect(collector.mode == .stopTheWorld)
    }

    @Test func syntaxErrorsAreParseErrorsAndCheckerErrorsCheckErrorsHoweverMany() {
        #expect(refusal(request { $0.source = "main { x = }" })?.code == .parseError)
        #expect(refusal(request { $0.source = "main {\n" + String(repeating: "x = \n", count: 100) + "}" })?.code == .parseError)
        #expect(refusal(request { $0.source = "main { print nowhere }" })?.code == .checkError)
        // Past the 20 errors reported, E299 ends the list: still the checker's.
        let unknown = (0..<25).map { "print unknown\($0)" }.joined(separator: "\n")
        let many = refusal(request { $0.source = "main {\n\(unknown)\n}" })
        #expect(many?.code == .checkError)
        #expect(many?.message.contains("E299") == true)
    }

    @Test func anExecPieceRunsWithinTheDefaultsAndAtMost256MiBAnd30Seconds() {
        var settings = ServiceConfiguration()
        settings.defaultPolicy = "atomic"
        settings.maxOutputBytes = 100
        var configuration = RunPlan.execConfiguration(settings)
        #expect(configuration.policy == .atomic)
        #expect(!configuration.collector.automatic)
        #expect(configuration.heapLimitBytes == 256 << 20 && configuration.timeLimit == .seconds(30))
        #expect(configuration.maxOutputBytes == 100)
        settings.defaultHeapLimitMiB = 16
        settings.defaultTimeLimitSeconds = 2
        configuration = RunPlan.execConfiguration(settings)
        #expect(configuration.heapLimitBytes == 16 << 20 && configuration.timeLimit == .seconds(2))
    }
}

extension CodedError: CustomTestStringConvertible {
    public var testDescription: String { "\(code.rawValue): \(message)" }
}
