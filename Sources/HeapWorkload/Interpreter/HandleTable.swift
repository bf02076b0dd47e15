// HandleTable: a run's channels and threads, by handle number (the number a handle word
// carries, Word.swift).
//
//   entries[0 ..< count] are set and never change until the table dies; `count` is published
//   with release ordering after the entry is written, and readers load it with acquire
//   ordering, so a reader that sees index < count sees the entry.
//
// Appending takes a lock; looking up takes none and no reference count (the table keeps every
// entry alive for the whole run), because `send` and `recv` look their channel up every time.

import HeapCore
import Synchronization

/// `@unchecked Sendable`: see the protocol above.
final class HandleTable: @unchecked Sendable {
    let capacity: Int
    private let entries: UnsafeMutablePointer<Unmanaged<AnyObject>>
    private let channelFlags: UnsafeMutablePointer<Bool>
    private let count = Atomic<Int>(0)
    private let appendLock = Lock()

    init(capacity: Int) {
        self.capacity = capacity
        entries = .allocate(capacity: capacity)
        channelFlags = .allocate(capacity: capacity)
    }

    deinit {
        for index in 0..<count.load(ordering: .acquiring) { entries[index].release() }
        entries.deallocate()
        channelFlags.deallocate()
    }

    /// Adds a channel or a thread; nil when the table is full.
    func append(_ object: AnyObject) -> Int? {
        appendLock.withLock {
            let index = count.load(ordering: .relaxed)
            guard index < capacity else { return nil }
            entries[index] = Unmanaged.passRetained(object)
            channelFlags[index] = object is Channel
            // Release: pairs with the acquiring loads of readers.
            count.store(index + 1, ordering: .releasing)
            return index
        }
    }

    /// Runs `body` with channel `index`, or returns nil when `index` is not a channel.
    @inline(__always)
    func withChannel<R>(_ index: Int, _ body: (Channel) -> R) -> R? {
        guard index < count.load(ordering: .acquiring), channelFlags[index] else { return nil }
        return entries[index]._withUnsafeGuaranteedRef { body(unsafeDowncast($0, to: Channel.self)) }
    }

    func thread(_ index: Int) -> SpawnedThread? {
        guard index < count.load(ordering: .acquiring), !channelFlags[index] else { return nil }
        return entries[index].takeUnretainedValue() as? SpawnedThread
    }

    func isChannel(_ index: Int) -> Bool {
        index < count.load(ordering: .acquiring) && channelFlags[index]
    }

    var channels: [Channel] {
        (0..<count.load(ordering: .acquiring)).compactMap { channelFlags[$0] ? (entries[$0].takeUnretainedValue() as! Channel) : nil }
    }

    var threadCount: Int { count.load(ordering: .acquiring) }
}
