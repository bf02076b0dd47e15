// SwiftProducerConsumer: the work of workloads/producer-consumer.hw in Swift with ARC, printing
// the same line. One producer thread allocates objects of 64 bytes and sends them one by one
// through a bounded queue (a pthread mutex and two condition variables); one consumer thread
// receives and drops them, so every object is freed on the thread that did not allocate it. The
// main thread starts both, joins the producer, closes the queue and joins the consumer.
//
//   usage: SwiftProducerConsumer [objects] [capacity]      (default 1,000,000, 1024)

/// 64 bytes of fields, as the workload's `type Block { payload 64 }`.
final class Block: Sendable {
    let words: (Int, Int, Int, Int, Int, Int, Int, Int) = (0, 0, 0, 0, 0, 0, 0, 0)
}

func produce(_ queue: BoundedQueue<Block>, count: Int) -> Int {
    for _ in 0..<count { queue.send(Block()) }
    return count
}

func consume(_ queue: BoundedQueue<Block>) -> Int {
    var received = 0
    var block = queue.receive()
    while block != nil {
        precondition(isKnownUniquelyReferenced(&block), "a received block is held by the receiver alone")
        received += 1
        block = nil
        block = queue.receive()
    }
    return received
}

/// Runs the handoff; returns the number of blocks sent and received. (A function, not top-level
/// code: top-level variables are main-actor isolated, and the threads' closures are not.)
func handOff(objects: Int, capacity: Int) -> (sent: Int, received: Int) {
    let queue = BoundedQueue<Block>(capacity: capacity)
    let consumer = JoinableThread { consume(queue) }
    let producer = JoinableThread { produce(queue, count: objects) }
    let sent = producer.join()
    queue.close()
    return (sent, consumer.join())
}

let arguments = CommandLine.arguments.dropFirst().map { Int($0) }
let objects = (arguments.count > 0 ? arguments[0] : nil) ?? 1_000_000
let capacity = (arguments.count > 1 ? arguments[1] : nil) ?? 1024

let (sent, received) = handOff(objects: objects, capacity: capacity)
print("sent \(sent) received \(received)")
precondition(sent == objects && received == sent, "every block sent was received")
