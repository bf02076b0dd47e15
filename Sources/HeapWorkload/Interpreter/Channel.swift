// Channel: a bounded FIFO of words between mutator threads (`channel(n)`, `send`, `recv`,
// `close`).
//
//   count == number of words in `buffer` between `head` and head + count (mod capacity)
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

/// `@unchecked Sendable`: every field is guarded by `mutex`.
final class Channel: @unchecked Sendable {
    let capacity: Int
    private var buffer: [Word]
    private var head = 0
    private var count = 0
    private var closed = false
    /// Threads waiting on `changed`: a send or receive wakes anyone only when someone waits.
    private var waiting = 0
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    init(capacity: Int) {
        self.capacity = capacity
        buffer = Array(repeating: Words.none, count: capacity)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        changed.deallocate()
        mutex.deallocate()
    }

    /// Moves `word` in, waiting while the channel is full. False (and `word` not taken) when the
    /// channel is closed.
    func send(_ word: Word, as mutator: Mutator) -> Bool {
        pthread_mutex_lock(mutex)
        waitLocked(as: mutator) { $0.count == $0.capacity && !$0.closed }
        defer { pthread_mutex_unlock(mutex) }
        guard !closed else { return false }
        buffer[(head + count) % capacity] = word
        count += 1
        if waiting > 0 { pthread_cond_broadcast(changed) }
        return true
    }

    /// Moves the next word out, waiting while the channel is empty and open; none once it is
    /// closed and empty.
    func receive(as mutator: Mutator) -> Word {
        pthread_mutex_lock(mutex)
        waitLocked(as: mutator) { $0.count == 0 && !$0.closed }
        defer { pthread_mutex_unlock(mutex) }
        guard count > 0 else { return Words.none }
        let word = buffer[head]
        buffer[head] = Words.none
        head = (head + 1) % capacity
        count -= 1
        if waiting > 0 { pthread_cond_broadcast(changed) }
        return word
    }

    func close() {
        pthread_mutex_lock(mutex)
        closed = true
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    /// Closes the channel and hands back what it still holds (the run's end releases it).
    func drain() -> [Word] {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        closed = true
        pthread_cond_broadcast(changed)
        var words: [Word] = []
        while count > 0 {
            words.append(buffer[head])
            buffer[head] = Words.none
            head = (head + 1) % capacity
            count -= 1
        }
        return words
    }

    /// Waits (mutex held on entry and exit) while `blocked` holds, in a blocking region.
    private func waitLocked(as mutator: Mutator, while blocked: (Channel) -> Bool) {
        guard blocked(self) else { return }
        pthread_mutex_unlock(mutex)
        mutator.enterBlockingRegion()
        pthread_mutex_lock(mutex)
        waiting += 1
        while blocked(self) { pthread_cond_wait(changed, mutex) }
        waiting -= 1
        pthread_mutex_unlock(mutex)
        mutator.leaveBlockingRegion()
        pthread_mutex_lock(mutex)
        // The state may have changed while leaving the region (another sender filled it).
        if blocked(self) { waitLocked(as: mutator, while: blocked) }
    }
}
