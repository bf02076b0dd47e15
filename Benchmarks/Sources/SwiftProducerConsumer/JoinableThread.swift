// JoinableThread: an OS thread that runs one closure and hands back its count on join.
// Foundation's Thread cannot be joined. (Not generic over the result: Swift 6.3.1's
// region-based isolation checker crashes on the generic form of the init below.)

import Glibc

struct JoinableThread {
    private let handle: pthread_t
    private let box: ResultBox

    /// Starts a thread running `body`.
    init(_ body: @escaping @Sendable () -> Int) {
        let box = ResultBox(body)
        // The box travels to the new thread retained once more; the thread releases it when done.
        let argument = Unmanaged.passRetained(box).toOpaque()
        var handle = pthread_t()
        let status = pthread_create(&handle, nil, { argument in
            let box = Unmanaged<ResultBox>.fromOpaque(argument!).takeRetainedValue()
            box.result = box.body()
            return nil
        }, argument)
        precondition(status == 0, "pthread_create failed: \(status)")
        self.handle = handle
        self.box = box
    }

    /// Waits for the thread to finish and returns what its closure returned.
    func join() -> Int {
        let status = pthread_join(handle, nil)
        precondition(status == 0, "pthread_join failed: \(status)")
        return box.result
    }
}

private final class ResultBox: @unchecked Sendable {
    // @unchecked Sendable: `result` is written once by the thread before it ends and read only after
    // pthread_join, which orders the two.
    let body: @Sendable () -> Int
    var result = 0

    init(_ body: @escaping @Sendable () -> Int) { self.body = body }
}
