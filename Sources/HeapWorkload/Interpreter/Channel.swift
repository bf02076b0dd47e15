// Channel: a bounded FIFO of words between mutator threads (`channel(n)`, `send`, `recv`,
// `close`).
//
//   count == number of words in `buffer` from `head` to head + count (mod capacity); the other
//   cells hold none
//   every object word in the buffer holds one reference, owned by the channel: `send` moves the
//   sender's reference in, `recv` moves it out to the receiver, the run's end releases leftovers
//
// A thread that must wait (full on send, empty on recv) waits in a blocking region: it touches no
// object meanwhile, so a collection need not wait for it. The channel's mutex is never held
// while entering or leaving the blocking region (which takes the world's mutex).
//
// Memory: `bytes(capacity:)` — the buffer and the channel's own fixed cost — is taken from the
// run's OffHeapMemory before the channel is made (`make`) and given back when it dies, so that
// `channel(n)` counts against the heap limit as `new [n]` does.

import HeapCore

/// The channel's fields, in raw memory: Swift's dynamic exclusivity checks on a class's `var`s
/// (`swift_beginAccess` on every send and receive) were a few per cent of producer/consumer.
private struct ChannelState {
    var head = 0
    var count = 0
    var closed = false
    /// Threads waiting on the condition: a send or receive wakes anyone only when someone waits.
    var waiting = 0
}

/// `@unchecked Sendable`: `state` and `buffer` are read and written with `condition` locked.
final class Channel: @unchecked Sendable {
    let capacity: Int
    private let buffer: UnsafeMutablePointer<Word>
    private let state = UnsafeMutablePointer<ChannelState>.allocate(capacity: 1)
    private let condition = MutexCondition()
    /// Where `bytes(capacity:)` was taken from, to give back.
    private let memory: OffHeapMemory

    /// What a channel of `capacity` words costs: its buffer, and an estimate of its object, its
    /// mutex and condition, its state and its handle (256 bytes).
    static func bytes(capacity: Int) -> Int {
        capacity * MemoryLayout<Word>.stride + 256
    }

    /// A new channel, its bytes taken from `memory`; nil when they do not fit.
    static func make(capacity: Int, memory: OffHeapMemory) -> Channel? {
        guard memory.take(bytes(capacity: capacity)) else { return nil }
        return Channel(capacity: capacity, memory: memory)
    }

    private init(capacity: Int, memory: OffHeapMemory) {
        self.capacity = capacity
        self.memory = memory
        buffer = .allocate(capacity: capacity)
        buffer.initialize(repeating: Words.none, count: capacity)
        state.initialize(to: ChannelState())
    }

    deinit {
        state.deallocate()
        buffer.deallocate()
        memory.give(Channel.bytes(capacity: capacity))
    }

    /// Moves `word` in, waiting while the channel is full. False (and `word` not taken) when the
    /// channel is closed.
    func send(_ word: Word, as mutator: Mutator) -> Bool {
        condition.lock()
        waitLocked(as: mutator) { $0.count == self.capacity && !$0.closed }
        defer { condition.unlock() }
        guard !state.pointee.closed else { return false }
        buffer[(state.pointee.head + state.pointee.count) % capacity] = word
        state.pointee.count += 1
        if state.pointee.waiting > 0 { condition.broadcast() }
        return true
    }

    /// Moves the next word out, waiting while the channel is empty and open; none once it is
    /// closed and empty.
    func receive(as mutator: Mutator) -> Word {
        condition.lock()
        waitLocked(as: mutator) { $0.count == 0 && !$0.closed }
        defer { condition.unlock() }
        guard state.pointee.count > 0 else { return Words.none }
        let word = takeFirstLocked()
        if state.pointee.waiting > 0 { condition.broadcast() }
        return word
    }

    func close() {
        condition.lock()
        state.pointee.closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Closes the channel and hands back what it still holds (the run's end releases it).
    /// The words in the buffer, oldest first, without taking them: roots for a walk of the heap
    /// (the world stopped, so no sender or receiver changes them meanwhile).
    func bufferedWords() -> [Word] {
        condition.lock()
        defer { condition.unlock() }
        return (0..<state.pointee.count).map { buffer[(state.pointee.head + $0) % capacity] }
    }

    func drain() -> [Word] {
        condition.lock()
        defer { condition.unlock() }
        state.pointee.closed = true
        condition.broadcast()
        var words: [Word] = []
        while state.pointee.count > 0 { words.append(takeFirstLocked()) }
        return words
    }

    /// Removes and returns the oldest word (mutex held, count > 0).
    private func takeFirstLocked() -> Word {
        let head = state.pointee.head
        let word = buffer[head]
        buffer[head] = Words.none
        state.pointee.head = (head + 1) % capacity
        state.pointee.count -= 1
        return word
    }

    /// Waits (mutex held on entry and exit) while `blocked` holds, in a blocking region.
    private func waitLocked(as mutator: Mutator, while blocked: (ChannelState) -> Bool) {
        guard blocked(state.pointee) else { return }
        condition.unlock()
        mutator.enterBlockingRegion()
        condition.lock()
        state.pointee.waiting += 1
        while blocked(state.pointee) { condition.wait() }
        state.pointee.waiting -= 1
        condition.unlock()
        mutator.leaveBlockingRegion()
        condition.lock()
        // The state may have changed while leaving the region (another sender filled it).
        if blocked(state.pointee) { waitLocked(as: mutator, while: blocked) }
    }
}
