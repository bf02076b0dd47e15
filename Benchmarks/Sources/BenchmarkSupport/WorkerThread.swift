// WorkerThread: a joinable OS thread that runs one closure. Foundation's Thread cannot be joined,
// and the benchmarks must know when every worker has finished before they stop the clock.

import Glibc

public struct WorkerThread {
    private let handle: pthread_t

    /// Starts a thread running `body`.
    public init(_ body: @escaping @Sendable () -> Void) {
        // The closure travels to the new thread as a retained box; the thread takes it back.
        let box = Unmanaged.passRetained(ClosureBox(body)).toOpaque()
        var handle = pthread_t()
        let status = pthread_create(&handle, nil, { argument in
            Unmanaged<ClosureBox>.fromOpaque(argument!).takeRetainedValue().body()
            return nil
        }, box)
        precondition(status == 0, "pthread_create failed: \(status)")
        self.handle = handle
    }

    /// Waits for the thread to finish (its writes are visible afterwards).
    public func join() {
        let status = pthread_join(handle, nil)
        precondition(status == 0, "pthread_join failed: \(status)")
    }
}

private final class ClosureBox {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
}
