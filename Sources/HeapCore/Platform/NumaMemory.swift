// NumaMemory: binding mappings to a NUMA node and asking the kernel where their pages live.
//
// `bind` is called once per arena or large mapping, before it is touched. `nodesOfPages` is the
// read-back that tests use to check placement (`move_pages` with no target nodes only queries).

import CNuma
#if canImport(Glibc)
import Glibc
#endif

/// How arena memory is tied to its node.
public enum NumaBinding: String, Sendable, CaseIterable {
    /// `MPOL_BIND`: pages come only from the node (predictable locality; fails when the node is full).
    case bind
    /// `MPOL_PREFERRED`: pages come from the node while it has free memory, else from another.
    case preferred
    /// No policy: the kernel's default (first touch).
    case none
}

enum NumaMemory {
    /// Applies `binding` for `physicalNode` to `[pointer, pointer + size)`. Returns false if the
    /// kernel refused (the memory then simply follows the default policy).
    @discardableResult
    static func bind(_ pointer: UnsafeMutableRawPointer, size: Int, toNode physicalNode: Int, binding: NumaBinding) -> Bool {
        guard binding != .none, physicalNode >= 0, physicalNode <= Int(numa_max_node()), physicalNode < UInt.bitWidth else {
            return false
        }
        var mask: UInt = 1 << UInt(physicalNode)
        let mode = binding == .bind ? Int32(MPOL_BIND) : Int32(MPOL_PREFERRED)
        return mbind(pointer, UInt(size), mode, &mask, UInt(UInt.bitWidth), 0) == 0
    }

    /// The NUMA node of each OS page of `[pointer, pointer + size)`, touching nothing: a negative
    /// entry is an errno value (`-ENOENT` for a page not yet faulted in).
    static func nodesOfPages(_ pointer: UnsafeRawPointer, size: Int) -> [Int] {
        let count = (size + OSMemory.pageSize - 1) / OSMemory.pageSize
        var pages = (0..<count).map { Optional(UnsafeMutableRawPointer(mutating: pointer + $0 * OSMemory.pageSize)) }
        var status = [Int32](repeating: 0, count: count)
        let rc = move_pages(0, UInt(count), &pages, nil, &status, 0)
        guard rc == 0 else { return [Int](repeating: -Int(errno), count: count) }
        return status.map(Int.init)
    }
}
