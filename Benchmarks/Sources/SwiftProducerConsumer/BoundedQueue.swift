// BoundedQueue: a closable FIFO of fixed capacity between threads, on one pthread mutex and two
// condition variables, the shape of the workload language's channel (send waits while full;
// receive waits while empty and gives nil once the queue is closed and empty).
//
// Invariants, under `mutex`: 0 <= count <= capacity; the elements are storage[head ..< head + count]
// (indices modulo capacity); every other element of storage is nil.

import Glibc

final class BoundedQueue<Element>: @unchecked Sendable {
    // @unchecked Sendable: every stored property below is read and written with `mutex` held.
    private var storage: [Element?]
    private var head = 0
    private var count = 0
    private var closed = false

    // Owned by this queue: allocated and initialised in init, destroyed and freed in deinit. The
    // pthread objects must not move, so they live outside the Swift object's storage.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let notEmpty: UnsafeMutablePointer<pthread_cond_t>
    private let notFull: UnsafeMutablePointer<pthread_cond_t>

    init(capacity: Int) {
        precondition(capacity > 0, "a bounded queue needs room for one element")
        storage = Array(repeating: nil, count: capacity)
        mutex = .allocate(capacity: 1)
        notEmpty = .allocate(capacity: 1)
        notFull = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(notEmpty, nil)
        pthread_cond_init(notFull, nil)
    }

    deinit {
        pthread_cond_destroy(notFull)
        pthread_cond_destroy(notEmpty)
        pthread_mutex_destroy(mutex)
        notFull.deallocate()
        notEmpty.deallocate()
        mutex.deallocate()
    }

    /// Appends `element`, waiting while the queue is full. `consuming`, and moved into the
    /// storage: the sender keeps no reference that it would drop only after a receiver has the
    /// element.
    func send(_ element: consuming Element) {
        pthread_mutex_lock(mutex)
        precondition(!closed, "send on a closed queue")
        while count == storage.count { pthread_cond_wait(notFull, mutex) }
        storage[(head + count) % storage.count] = consume element
        count += 1
        pthread_cond_signal(notEmpty)
        pthread_mutex_unlock(mutex)
    }

    /// The oldest element, waiting while the queue is empty; nil once it is closed and empty.
    func receive() -> Element? {
        pthread_mutex_lock(mutex)
        while count == 0 && !closed { pthread_cond_wait(notEmpty, mutex) }
        var element: Element? = nil
        if count > 0 {
            swap(&element, &storage[head])
            head = (head + 1) % storage.count
            count -= 1
            pthread_cond_signal(notFull)
        }
        pthread_mutex_unlock(mutex)
        return element
    }

    /// Ends the queue: receivers drain what is left, then get nil.
    func close() {
        pthread_mutex_lock(mutex)
        closed = true
        pthread_cond_broadcast(notEmpty)
        pthread_mutex_unlock(mutex)
    }
}
