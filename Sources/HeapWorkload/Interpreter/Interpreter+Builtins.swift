// Interpreter+Builtins: the builtin functions (Language/Builtin.swift lists them) as the
// interpreter runs them. Arguments are registers read in place (nothing is moved); the value
// returned is a new reference when it is an object.

import HeapCore

extension InterpreterThread {
    func builtin(_ builtin: Builtin, _ first: Int32, _ second: Int32, _ regs: UnsafeMutablePointer<Word>, moving: Bool = false) throws(Fault) -> Word {
        let m = mutator
        // Not `let heap = run.heap`: that took a reference to the Heap object on every builtin
        // call (send and recv included), an atomic on a line every thread writes.
        var heap: Heap { run.heap }
        func argument(_ register: Int32) -> Word { regs[Int(register)] }
        func integer(_ register: Int32) throws(Fault) -> Int64 {
            let word = argument(register)
            guard Words.isInt(word) else { throw Fault(.typeError, "\(builtin.rawValue)() needs an integer, not \(run.describeKind(word))") }
            return Words.intValue(word)
        }
        func object(_ register: Int32) throws(Fault) -> ObjectRef {
            let word = argument(register)
            guard Words.isObject(word) else {
                throw Fault(word == 0 ? .noneAccess : .typeError, "\(builtin.rawValue)() needs an object, not \(run.describeKind(word))")
            }
            return Words.object(word)
        }
        func generation(_ register: Int32) throws(Fault) -> Int {
            let value = try integer(register)
            guard (0...2).contains(value) else { throw Fault(.badArgument, "\(builtin.rawValue)(\(value)): generations are 0, 1 and 2") }
            return Int(value)
        }

        switch builtin {
        case .len:
            let array = try object(first)
            guard array.typeID == run.arrayType.id else { throw Fault(.typeError, "len() of \(run.describeKind(argument(first))): an array is needed") }
            return Words.int(Int64(array.slotCount))!
        case .deref:
            let weak = try object(first)
            guard weak.typeID == heap.weakReferenceType.id else { throw Fault(.typeError, "deref() of \(run.describeKind(argument(first))): a weak reference is needed") }
            return m.deref(weak)?.bits ?? Words.none
        case .refcount:
            // `second` is 1 when the argument is a temporary holding a reference of its own.
            return Words.int(Int64(m.refcount(try object(first)) - Int(second)))!
        case .rand:
            let bound = try integer(first)
            guard bound > 0 else { throw Fault(.badArgument, "rand(\(bound)): the bound must be positive") }
            return Words.int(Int64(random.next() % UInt64(bound)))!
        case .channel:
            let capacity = try integer(first)
            guard capacity >= 1 && capacity <= 1 << 24 else { throw Fault(.badArgument, "channel(\(capacity)): capacity is 1 to \(1 << 24)") }
            guard let channel = Channel.make(capacity: Int(capacity), memory: run.offHeap) else { throw run.heapLimitFault() }
            return try run.addHandle(channel)
        case .send:
            let word = argument(second)
            // The channel takes a reference: the temporary's, moved, or a new one.
            if moving { regs[Int(second)] = Words.none } else if Words.isObject(word) { m.retain(Words.object(word)) }
            // Another thread will hold it: merged now, its receiver frees it without a round trip.
            if Words.isObject(word) { m.handOff(Words.object(word)) }
            let sent: Bool
            do throws(Fault) {
                sent = try run.withChannel(argument(first)) { $0.send(word, as: m) }
            } catch {
                if Words.isObject(word) { m.release(Words.object(word)) }
                throw error
            }
            guard sent else {
                if Words.isObject(word) { m.release(Words.object(word)) }
                throw Fault(.channelClosed, "send on a closed channel")
            }
            return Words.none
        case .recv:
            return try run.withChannel(argument(first)) { $0.receive(as: m) }
        case .close:
            try run.withChannel(argument(first)) { $0.close() }
            return Words.none
        case .join:
            return try run.join(argument(first), from: self)
        case .gcCollect:
            let generation = first >= 0 ? try generation(first) : 2
            return Words.int(Int64(heap.collect(generation: generation).collected))!
        case .gcEnable:
            heap.setAutomaticCollection(enabled: true)
            return Words.none
        case .gcDisable:
            heap.setAutomaticCollection(enabled: false)
            return Words.none
        case .gcIsEnabled:
            return Words.bool(heap.isAutomaticCollectionEnabled)
        case .gcFreeze:
            heap.freeze()
            return Words.none
        case .gcUnfreeze:
            heap.unfreeze()
            return Words.none
        case .gcGetCount:
            let count = heap.count
            return Words.int(Int64([count.0, count.1, count.2][try generation(first)]))!
        case .gcGetThreshold:
            let thresholds = heap.thresholds
            return Words.int(Int64([thresholds.0, thresholds.1, thresholds.2][try generation(first)]))!
        case .gcIsTracked:
            let word = argument(first)
            return Words.bool(Words.isObject(word) && heap.isTracked(Words.object(word)))
        case .gcIsFinalized:
            return Words.bool(heap.isFinalized(try object(first)))
        case .gcTrace:
            heap.setAllocationTracing(try integer(first) != 0)
            return Words.none
        case .weak, .gcSetThreshold:
            preconditionFailure("compiled to their own instructions")
        }
    }

    /// `weak(x [, callback])`: a new weak reference; the callback function travels as a small
    /// object holding its index (HeapCore keeps callbacks as objects).
    func weakReference(_ referentRegister: Int32, callback: Int, _ regs: UnsafeMutablePointer<Word>) throws(Fault) -> Word {
        let word = regs[Int(referentRegister)]
        guard Words.isObject(word) else { throw Fault(word == 0 ? .noneAccess : .typeError, "weak() of \(run.describeKind(word)): an object is needed") }
        var callbackObject: ObjectRef?
        if callback >= 0 {
            guard let made = mutator.new(run.callbackType) else { throw run.heapLimitFault() }
            made.payload.storeBytes(of: callback, as: Int.self)
            callbackObject = made
        }
        defer { if let callbackObject { mutator.release(callbackObject) } }
        guard let weak = mutator.newWeakReference(to: Words.object(word), callback: callbackObject) else { throw run.heapLimitFault() }
        allocations &+= 1
        return weak.bits
    }
}
