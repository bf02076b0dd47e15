// A run cancelled from outside ends `run.cancelled`, whichever of its threads sees the
// cancellation first: stopping closes the run's channels and makes a blocked `join` give none, and
// what another thread does with those (an operator on none, a send on a closed channel) is a
// consequence of the stop, not the run's failure. (Found by scripts/soak: a cancelled
// shared-refcount ended `run.type-error` 30 times of 30.)

import Dispatch
import Foundation
import HeapWorkload
import Testing

@Suite struct CancellationTests {
    private static let programs = [
        // main waits in join while the spawned thread spins: the spawned thread polls first.
        ("join", """
        fn spin() {
            n = 0
            while 1 { n = n + 1 }
            return n
        }
        main {
            t = spawn spin()
            x = join(t) + 1
            print x
        }
        """),
        // main blocks in send while the spawned thread spins; stopping closes the channel.
        ("send", """
        fn spin(c) {
            n = 0
            while 1 { n = n + 1 }
        }
        main {
            c = channel(1)
            t = spawn spin(c)
            while 1 { send(c, 1) }
        }
        """),
    ]

    @Test(arguments: programs)
    func aCancelledRunEndsCancelled(_ name: String, _ source: String) throws {
        let checked = try Program.parse(source: source, fileName: "\(name).hw")
        var configuration = RunConfiguration()
        configuration.collector = .manual
        let cancellation = RunCancellation()
        configuration.cancellation = cancellation
        DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(100)) { cancellation.cancel() }
        let result = try Workload.run(checked, configuration: configuration)
        #expect(result.error?.code == .cancelled, "\(name): \(result.error.map(String.init(describing:)) ?? "no error")")
        #expect(result.leaked == 0)
    }
}
