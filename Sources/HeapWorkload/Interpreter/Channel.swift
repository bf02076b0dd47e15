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

import HeapCore
#if canImport(Glibc)
import Glibc
#endif

/// The channel's fields, in raw memory: Swift's dynamic exclusivity checks on a class's `var`s
/// (`swift_beginAccess` on every send and receive) were a few per cent of producer/consumer.
private struct ChannelState {
    var head = 0
    var count = 0
    var closed = false
    /// Threads waiting on `changed`: a send or receive wakes anyone only when someone waits.
    var waiting = 0
}

/// `@unchecked Sendable`: `state` and `buffer` are read and written with `mutex` held.
final class Channel: @unchecked Sendable {
    let capacity: Int
    private let buffer: UnsafeMutablePointer<Word>
    private let state = UnsafeMutablePointer<ChannelState>.allocate(capacity: 1)
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init(capacity: Int) {
        self.capacity = capacity
        buffer = .allocate(capacity: capacity)
        buffer.initialize(repeating: Words.none, count: capacity)
        state.initialize(to: ChannelState())
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        changed.deallocate()
        mutex.deallocate()
        state.deallocate()
        buffer.deallocate()
    }

    /// Moves `word` in, waiting while the channel is full. False (and `word` not taken) when the
    /// channel is closed.
    func send(_ word: Word, as mutator: Mutator) -> Bool {
        pthread_mutex_lock(mutex)
        waitLocked(as: mutator) { $0.count == self.capacity && !$0.closed }
        defer { pthread_mutex_unlock(mutex) }
        guard !state.pointee.closed else { return false }
        buffer[(state.pointee.head + state.pointee.count) % capacity] = word
        state.pointee.count += 1
        if state.pointee.waiting > 0 { pthread_cond_broadcast(changed) }
        return true
    }

    /// Moves the next word out, waiting while the channel is empty and open; none once it is
    /// closed and empty.
    func receive(as mutator: Mutator) -> Word {
        pthread_mutex_lock(mutex)
        waitLocked(as: mutator) { $0.count == 0 && !$0.closed }
        defer { pthread_mutex_unlock(mutex) }
        guard state.pointee.count > 0 else { return Words.none }
        let word = takeFirstLocked()
        if state.pointee.waiting > 0 { pthread_cond_broadcast(changed) }
        return word
    }

    func close() {
        pthread_mutex_lock(mutex)
        state.pointee.closed = true
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    /// Closes the channel and hands back what it still holds (the run's end releases it).
    func drain() -> [Word] {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        state.pointee.closed = true
        pthread_cond_broadcast(changed)
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
        pthread_mutex_unlock(mutex)
        mutator.enterBlockingRegion()
        pthread_mutex_lock(mutex)
        state.pointee.waiting += 1
        while blocked(state.pointee) { pthread_cond_wait(changed, mutex) }
        state.pointee.waiting -= 1
        pthread_mutex_unlock(mutex)
        mutator.leaveBlockingRegion()
        pthread_mutex_lock(mutex)
        // The state may have changed while leaving the region (another sender filled it).
        if blocked(state.pointee) { waitLocked(as: mutator, while: blocked) }
    }
}
