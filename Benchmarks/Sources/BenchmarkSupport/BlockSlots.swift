// BlockSlots: a fixed array of block pointers that a workload fills and empties, allocated once
// (with glibc, outside any measurement) so that no workload allocates to remember its blocks.
//
// `@unchecked Sendable`: a BlockSlots is used by one thread at a time; it changes hands only at
// thread start, join, or through a Mutex-protected BatchQueue, each of which orders the accesses.

public final class BlockSlots: @unchecked Sendable {
    public let count: Int
    /// Owned by this object, freed in deinit. @usableFromInline so that the subscript inlines
    /// into the workloads of other modules.
    @usableFromInline let slots: UnsafeMutablePointer<UnsafeMutableRawPointer?>

    public init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
    }

    deinit {
        slots.deallocate()
    }

    @inlinable
    public subscript(index: Int) -> UnsafeMutableRawPointer {
        get { slots[index].unsafelyUnwrapped }
        set { slots[index] = newValue }
    }
}
