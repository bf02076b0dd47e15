// Which stores the compiler marks as going into an unpublished object (Bytecode/
// UnpublishedObjects.swift): only while the object made by `new` has stayed in its register and
// been used there as a container, on every path to the store; and what such stores do at run
// time (counts, frees, boxes) is what ordinary stores do.

import HeapWorkload
import XCTest

final class UnpublishedObjectsTests: XCTestCase {
    /// The store instructions of `main`, in order (their opcode names).
    private func stores(_ body: String, prelude: String = "", file: StaticString = #filePath, line: UInt = #line) -> [String] {
        disassembly("""
            type Node { left, right }
            global g
            fn f(x) { return 1 }
            fn h() { return 1 }
            \(prelude)
            main { \(body) }
            """, file: file, line: line)
            .compactMap { $0.split(separator: " ").first.map(String.init) }
            .filter { $0.hasPrefix("setSlot") || $0.hasPrefix("setElement") }
    }

    func testAStoreIntoAnObjectStillInItsRegisterIsUnpublished() {
        XCTAssertEqual(stores("n = new Node; n.left = new Node; n.right = n.left"),
                       ["setSlotUnpublishedMove", "setSlotUnpublishedMove"])
        XCTAssertEqual(stores("a = new [3]; a[0] = new Node; a[1] = 5"), ["setElementUnpublishedMove", "setElementUnpublished"])
    }

    func testACallOfOtherValuesLeavesItUnpublished() {
        // The callee reaches only its own frame: `make` keeps `n` unpublished across its calls.
        XCTAssertEqual(stores("n = new Node; n.left = f(1); x = h(); n.right = new Node"),
                       ["setSlotUnpublishedMove", "setSlotUnpublishedMove"])
    }

    func testEveryWayOfPublishingEndsIt() {
        let publications = [
            "g = n",                          // a global
            "x = f(n)",                       // a call's argument
            "m = n",                          // a second register
            "o = new Node; o.left = n",       // another object's slot
            "a = new [1]; a[0] = n",          // an array's element
            "t = spawn f(n); join(t)",        // another thread
            "c = channel(1); send(c, n)",     // a channel
            "w = weak(n)",                    // a weak reference
        ]
        for publication in publications {
            let found = stores("n = new Node; \(publication); n.right = new Node")
            XCTAssertEqual(found.last, "setSlotMove", "after `\(publication)`")
        }
    }

    func testOverwritingTheRegisterEndsIt() {
        // (The type is not known after the assignment either: the slot is found by name.)
        XCTAssertEqual(stores("n = new Node; n = g; n.left = none"), ["setSlotNamed"])
        XCTAssertEqual(stores("n = new Node; n = n.left; n.left = none"), ["setSlotNamed"])
    }

    func testPathsMeetOnWhatHoldsOnAll() {
        // Published on one branch only: the store after the `if` is an ordinary one; inside the
        // other branch it is unpublished still.
        XCTAssertEqual(stores("n = new Node; if rand(2) == 0 { g = n } else { n.left = none }; n.right = none"),
                       ["setSlotUnpublished", "setSlot"])
        // A loop: published at the end of the body, so not unpublished at its head.
        XCTAssertEqual(stores("n = new Node; for i in range(3) { n.left = none; g = n }"), ["setSlot"])
        // Made anew in each iteration: unpublished in each.
        XCTAssertEqual(stores("for i in range(3) { n = new Node; n.left = none; g = n }"), ["setSlotUnpublished"])
    }

    func testAParameterOrSelfIsNeverUnpublished() {
        let code = disassembly("""
            type Node { left, finalize { self.left = none } }
            fn set(n) { n.left = none }
            main { }
            """, of: "set")
        XCTAssertEqual(code, ["loadNone 1", "setSlotNamed 0, 0, 1", "retNone"])
        let finalizer = disassembly("""
            type Node { left, finalize { self.left = none } }
            main { }
            """, of: "Node.finalize")
        XCTAssertFalse(finalizer.contains { $0.contains("Unpublished") }, "\(finalizer)")
    }

    func testUnpublishedStoresCountFreeAndBoxAsOrdinaryOnes() throws {
        XCTAssertEqual(try output(of: """
            type Node { left, right }
            main {
                kept = new Node
                n = new Node
                n.left = kept
                n.right = kept
                print refcount(kept)
                n.left = 7
                n.right = none
                print refcount(kept), n.left
                a = new [2]
                a[0] = kept
                a[0] = new Node
                a[1] = a[0]
                print refcount(kept), refcount(a[0])
            }
            """), ["3", "1 7", "1 2"])
    }
}
