// TestHooks: places where a test parks a thread to force an interleaving that would otherwise
// need luck (a referent dying while another thread dereferences a weak reference to it, say).
// Each hook sits on a cold path — an object with weak references dying, a weak reference dying —
// and costs one load of `Heap.testHooks` there when no test has set it.

/// `@unchecked Sendable`: set once, before the heap is shared with other threads, and read only
/// after.
final class TestHooks: @unchecked Sendable {
    /// An object whose count reached zero is about to have its weak references cleared (called on
    /// the freeing thread, after its finalizer, before the weak table's lock is taken).
    var dyingWithWeakReferences: ((ObjectRef) -> Void)?
    /// A weak reference whose count reached zero is about to leave the weak table.
    var weakReferenceDying: ((ObjectRef) -> Void)?
    /// A concurrent collection's walk is about to copy the page whose blocks start at the given
    /// address, with the world running (Collector/ConcurrentDetection.swift); called on the
    /// thread that walks the page, the collecting one or an assisting mutator.
    var beforeConcurrentPageCopy: ((UInt) -> Void)?
    /// A concurrent collection's teardown is about to free one batch of its garbage, with the
    /// world running; called on the freeing thread, the collecting one or an assisting mutator
    /// (Collector/CollectionAssists.swift).
    var beforeTeardownBatch: (() -> Void)?
    /// A validation pause is about to validate one batch of tentative garbage, with the world
    /// stopped; called on the validating thread, the stopper or an assisting mutator
    /// (Collector/CollectionAssists.swift).
    var beforeValidationBatch: (() -> Void)?
    /// The collector thread is about to decide whether an automatic collection is due; called
    /// on it, before it attaches (Collector/Heap+GCControl.swift).
    var beforeAutomaticCollection: (() -> Void)?
    /// A concurrent collection found its tentative garbage and is about to stop the world to
    /// validate it; called on the collecting thread with the world running.
    var beforeValidation: (([ObjectRef]) -> Void)?

    init() {}
}
