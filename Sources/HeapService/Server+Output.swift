// Server+Output: a connection's responses, from the threads that produce them to its socket.
//
//   encoding    on the producing thread (the request pool, a run's threads), never on the loop
//   queued      bytes handed to the loop and not yet written to the socket (or failed), counted
//               from any thread: queued = Σ sizes sent − Σ sizes whose write completed
//   finals      the one response that ends a request (a result, an error, a pong...) is always
//               queued: a client gets at most one per request it sent, and requests stop being
//               read while the channel is unwritable (Server+Connection)
//   events      streamed `output`, `progress`, `phase` and `gc` events of runs. A `progress`
//               event (a snapshot) is dropped while the channel is unwritable; any event that
//               would take `queued` past the high-water mark instead finds a client that has
//               stopped reading: its runs are cancelled and it is disconnected, once, and no
//               event is queued after that
//
//   state     | event fits under the mark | event past the mark          | final
//   ----------+---------------------------+------------------------------+--------
//   open      | queued                    | → cut off (cancel, close)    | queued
//   cut off   | dropped                   | dropped                      | queued (the channel is closing)

import Foundation
import NIOCore
import Synchronization

extension Response {
    /// One of a streamed run's events, rather than the response that ends a request.
    var isStreamedEvent: Bool {
        switch type {
        case "output", "progress", "phase": true
        case "gc": collection != nil
        default: false
        }
    }
}

/// Writes one connection's responses. Any thread.
final class ResponseWriter: Sendable {
    private let channel: any Channel
    private let highWater: Int
    private let queued = Atomic<Int>(0)
    private let cutOff = Atomic<Bool>(false)
    /// On the loop, as each final response is handed to the channel (the request it ends is
    /// answered), with the future of its write.
    private let answered: @Sendable (EventLoopFuture<Void>) -> Void
    /// Once, on the thread of the event that finds the client not reading.
    private let overflowed: @Sendable () -> Void

    init(channel: any Channel, highWater: Int, answered: @escaping @Sendable (EventLoopFuture<Void>) -> Void,
         overflowed: @escaping @Sendable () -> Void) {
        self.channel = channel
        self.highWater = highWater
        self.answered = answered
        self.overflowed = overflowed
    }

    /// Encodes `response` here and queues it on the loop (see the table above). Any thread.
    func send(_ response: Response) {
        let event = response.isStreamedEvent
        if event {
            // Relaxed: a late event that misses the flag is still refused by the channel, which
            // is closing.
            if cutOff.load(ordering: .relaxed) { return }
            if response.type == "progress" && !channel.isWritable { return }
        }
        guard var json = try? JSONEncoder().encode(response) else { return }
        json.append(UInt8(ascii: "\n"))
        let size = json.count
        // Relaxed: the count is a budget, not a guard of other memory.
        let total = queued.wrappingAdd(size, ordering: .relaxed).newValue
        if event && total > highWater {
            queued.wrappingSubtract(size, ordering: .relaxed)
            if !cutOff.exchange(true, ordering: .relaxed) { overflowed() }
            return
        }
        let buffer = channel.allocator.buffer(bytes: json)
        channel.eventLoop.execute { [self] in
            let written = channel.eventLoop.makePromise(of: Void.self)
            written.futureResult.whenComplete { _ in self.queued.wrappingSubtract(size, ordering: .relaxed) }
            channel.writeAndFlush(buffer, promise: written)
            // After the write is queued: a connection that closes once its last request is
            // answered closes behind it.
            if !event { answered(written.futureResult) }
        }
    }
}
