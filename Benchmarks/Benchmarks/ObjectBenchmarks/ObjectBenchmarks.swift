// The object layer, each comparison side by side in one run (issue 3's targets):
//
//   benchmark                               one iteration                                 target
//   owner retain+release <policy>           10^6 × (retain, release) of an object the     -
//                                           calling mutator owns, through Mutator (one
//                                           policy switch per call)
//   owner retain+release <policy>           the same through Heap.withPolicy: generic     biased >= 5x faster than atomic
//   (specialised)                           code specialised per policy, no switch
//   owner retain+release biased             the same written against BiasedCounting       equal to (specialised): choosing
//   (biased-only code)                      alone, as a biased-only runtime would         the policy costs nothing
//   link 2-slot object <who>                10^5 × (new a, new b, a.left = b, drop a):    heapd biased faster than ARC
//                                           both freed by the last release; heapd vs a
//                                           Swift final class with ARC
//   shared object <policy> <n> thread(s)    10^6 × (retain, release) on each of 2 threads, report time(shared) /
//   private object <policy>                 of one object both hold / one object each     time(private) per policy
//
// Every heapd thread is a mutator of the benchmark's heap. No malloc metrics are enabled.

import Benchmark
import BenchmarkSupport
import HeapCore

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock],
        timeUnits: .nanoseconds,
        warmupIterations: 3,
        maxDuration: .seconds(2),
        maxIterations: 10_000
    )

    for policy in [RefCountPolicyKind.biased, .atomic] {
        let heap = Heap(policy: policy, collector: .manual)
        let node = heap.types.register(name: "Node", slots: ["left", "right"])
        Benchmark("owner retain+release \(policy)") { _ in
            asMutator(of: heap) { mutator in
                let object = mutator.new(node)!
                // No blackHole in the loop: counts are atomics, which the compiler never folds, and
                // an opaque call per iteration would cost more than the biased path itself.
                for _ in 0..<1_000_000 {
                    mutator.retain(object)
                    mutator.release(object)
                }
                blackHole(object)
                mutator.release(object)
            }
        }
        Benchmark("owner retain+release \(policy) (specialised)") { _ in
            asMutator(of: heap) { mutator in
                let object = mutator.new(node)!
                heap.withPolicy(OwnerRetainRelease(mutator: mutator, object: object, count: 1_000_000))
                blackHole(object)
                mutator.release(object)
            }
        }
        if policy == .biased {
            Benchmark("owner retain+release biased (biased-only code)") { _ in
                asMutator(of: heap) { mutator in
                    let object = mutator.new(node)!
                    let id = mutator.id
                    for _ in 0..<1_000_000 {
                        BiasedCounting.retain(object, mutatorID: id)
                        if BiasedCounting.release(object, mutator: mutator) { fatalError("the object cannot die here") }
                    }
                    blackHole(object)
                    mutator.release(object)
                }
            }
            Benchmark("link 2-slot object heapd biased") { _ in
                asMutator(of: heap) { linkTwoSlotObjects($0, node: node, iterations: 100_000) }
            }
        }
        registerSharedVersusPrivate(heap, node: node)
    }

    Benchmark("link 2-slot object Swift ARC") { _ in
        linkTwoSlotSwiftObjects(iterations: 100_000)
    }
}

/// 10^6 × (retain, release) with the policy's own functions, specialised through Heap.withPolicy:
/// what the interpreter's generic run loop does, with no policy switch per call.
struct OwnerRetainRelease: RefCountPolicyVisitor {
    let mutator: Mutator
    let object: ObjectRef
    let count: Int

    func visit<Policy: RefCountPolicy>(_ policy: Policy.Type) {
        let id = mutator.id
        for _ in 0..<count {
            Policy.retain(object, mutatorID: id)
            if Policy.release(object, mutator: mutator) { fatalError("the object cannot die here") }
        }
    }
}

/// Runs `body` as a mutator of `heap` on the calling thread (package-benchmark may run iterations
/// on any thread, so each iteration attaches and detaches: a few microseconds against milliseconds).
func asMutator(of heap: Heap, _ body: (Mutator) -> Void) {
    let mutator = heap.attachCurrentThread()
    body(mutator)
    heap.detachCurrentThread()
}

/// Two threads, each 10^6 × (retain, release): of one object both hold, or of one object each.
func registerSharedVersusPrivate(_ heap: Heap, node: ObjectType) {
    for shared in [true, false] {
        Benchmark("\(shared ? "shared" : "private") object \(heap.policy) 2 threads") { _ in
            let holder = WorkerThread {
                let m = heap.attachCurrentThread()
                let common = m.new(node)!
                let workers = (0..<2).map { _ in
                    WorkerThread {
                        let w = heap.attachCurrentThread()
                        let target = shared ? common : w.new(node)!
                        if shared { w.retain(target) }
                        for _ in 0..<1_000_000 {
                            w.retain(target)
                            w.release(target)
                        }
                        blackHole(target)
                        w.release(target)
                        heap.detachCurrentThread()
                    }
                }
                for worker in workers { worker.join() }
                m.release(common)
                heap.detachCurrentThread()
            }
            holder.join()
        }
    }
}
