// ProgramGenerator+Threads: scenarios with threads — workers that build and drop trees and
// return checksums (or the tree itself, through join), channels that carry objects between
// threads (producer to main, main to consumer, a relay between two channels, several producers),
// a global tree read by many threads at once, a global array each thread fills one element of,
// and racing stores into the slots of one shared object. Main spawns every thread and joins it
// within the scenario, so that the thread numbers (which seed each thread's `rand`) and what
// main prints do not depend on timing; only the racing stores are nondeterministic, and nothing
// of them is printed.

extension Generation {
    /// Threads a program may spawn in all (the run allows 256; these keep a program fast).
    static let threadBudget = 8

    /// How many more threads this scenario may spawn (at least 1).
    mutating func threads(_ wanted: Int) -> Int {
        let granted = max(1, min(wanted, Generation.threadBudget - threadsSpawned))
        threadsSpawned += granted
        return granted
    }

    /// A few lines of cyclic garbage in a thread's loop (`c` in a self loop, or holding `held`).
    mutating func garbage(in body: inout SourceBlock, holding held: String?) {
        let slot = referenceSlot()
        let type = requireType([slot], allowResurrecting: true)
        body.line("c = new \(types[type].name)")
        body.line("c.\(slot) = c")
        if let held, let other = types[type].referenceSlots.first(where: { $0 != slot }) {
            body.line("c.\(other) = \(held)")
        }
    }

    /// A thread that makes cyclic garbage from the start of main to its end, while main's
    /// scenarios collect, freeze and change thresholds around it.
    mutating func backgroundChurn() -> String {
        let n = id()
        var body = SourceBlock(depth: 1)
        body.open("repeat k")
        garbage(in: &body, holding: nil)
        if random.chance(50) {
            body.line("a = new [\(random.int(in: 1...4))]")
            body.line("a[0] = a")
        }
        if random.chance(20) { body.line("if k % 7 == 0", "found = gc.collect(0)") }
        body.close()
        body.line("return 0")
        functions.append("fn churn\(n)(k) {\n" + body.text + "\n}")
        _ = threads(1)
        main.line("bg\(n) = spawn churn\(n)(\(random.int(in: 20...300)))")
        return "bg\(n)"
    }

    // MARK: Workers

    mutating func workers() {
        let n = id()
        let (type, parents) = treeType(allowResurrecting: true)
        let tree = treeFunctions(n, type: type, parents: parents)
        if random.chance(30) {
            // The tree itself comes back through join: built on one thread, freed on another.
            let depth = depth(random.int(in: 1...6), for: type)
            _ = threads(1)
            main.line("tt\(n) = spawn \(tree.build)(\(depth))")
            main.line("tr\(n) = join(tt\(n))")
            main.line("expect \(tree.sum)(tr\(n)) == \(tree.checksum(depth: depth))")
            main.line("print \"handed\(n)\", \(tree.sum)(tr\(n))")
            main.line("del tr\(n)")
            return
        }
        var body = SourceBlock(depth: 1)
        body.line("s = 0")
        body.open("repeat k")
        body.line("x = \(tree.build)(d)")
        body.line("s = (s + \(tree.sum)(x)) % \(Generation.modulus)")
        if random.chance(50) { garbage(in: &body, holding: random.chance(50) ? "x" : nil) }
        if random.chance(30) { body.line("x.left = none") }
        if random.chance(15) { body.line("found = gc.collect(\(random.below(3)))") }
        if random.chance(10) { body.line(thresholdStatement()) }
        body.close()
        body.line("return s")
        functions.append("fn work\(n)(d, k) {\n" + body.text + "\n}")
        var expected = 0
        let count = threads(random.int(in: 1...3))
        for index in 0..<count {
            let depth = depth(random.int(in: 1...5), for: type)
            let rounds = random.int(in: 1...6)
            expected = (expected + rounds * tree.checksum(depth: depth) % Generation.modulus) % Generation.modulus
            main.line("t\(n)_\(index) = spawn work\(n)(\(depth), \(rounds))")
        }
        main.line("r\(n) = 0")
        for index in random.shuffled(Array(0..<count)) {
            main.line("r\(n) = (r\(n) + join(t\(n)_\(index))) % \(Generation.modulus)")
        }
        main.line("expect r\(n) == \(expected)")
        main.line("print \"workers\(n)\", r\(n)")
    }

    // MARK: Channels

    mutating func channel() {
        let n = id()
        let type = requireType(["v"], allowResurrecting: true)
        let name = types[type].name
        let items = limit(random.int(in: 1...60), for: type)
        let capacity = random.int(in: 1...8)
        let divisor = random.int(in: 2...20)
        let expected = (0..<items).reduce(0) { $0 + $1 % divisor }
        // What each item carries besides its value: a self loop, or a fresh object.
        var extra: [String] = []
        if let slot = types[type].referenceSlots.first, random.chance(50) {
            let other = requireType([], allowResurrecting: true)
            extra = [random.chance(50) ? "x.\(slot) = x" : "x.\(slot) = new \(types[other].name)"]
        }
        var producer = SourceBlock(depth: 1)
        producer.open("for i in range(k)")
        producer.line("x = new \(name)")
        producer.line("x.v = i % \(divisor)")
        for line in extra { producer.line(line) }
        producer.line("send(ch, x)")
        producer.close()
        switch random.below(4) {
        case 0:
            // A producer thread, main receives until the channel is closed.
            functions.append("fn prod\(n)(ch, k) {\n" + producer.text + "\n    close(ch)\n}")
            _ = threads(1)
            main.line("ch\(n) = channel(\(capacity))")
            main.line("tp\(n) = spawn prod\(n)(ch\(n), \(items))")
            receive(n, until: nil)
            main.line("join(tp\(n))")
        case 1:
            // Main produces, a consumer thread sums.
            functions.append(consumer(n))
            _ = threads(1)
            main.line("ch\(n) = channel(\(capacity))")
            main.line("tc\(n) = spawn cons\(n)(ch\(n))")
            main.open("for i\(n) in range(\(items))")
            main.line("x\(n) = new \(name)")
            main.line("x\(n).v = i\(n) % \(divisor)")
            main.line("send(ch\(n), x\(n))")
            main.close()
            main.line("close(ch\(n))")
            main.line("del x\(n)")
            main.line("s\(n) = join(tc\(n))")
        case 2:
            // Producer, relay, main: each object crosses two threads.
            functions.append("fn prod\(n)(ch, k) {\n" + producer.text + "\n    close(ch)\n}")
            var relay = SourceBlock(depth: 1)
            relay.line("x = recv(a)")
            relay.open("while x != none")
            if random.chance(50) { garbage(in: &relay, holding: "x") }
            relay.line("send(b, x)")
            relay.line("x = recv(a)")
            relay.close()
            relay.line("close(b)")
            relay.line("return 0")
            functions.append("fn relay\(n)(a, b) {\n" + relay.text + "\n}")
            _ = threads(2)
            main.line("ch\(n) = channel(\(capacity))")
            main.line("out\(n) = channel(\(random.int(in: 1...8)))")
            main.line("tp\(n) = spawn prod\(n)(ch\(n), \(items))")
            main.line("tr\(n) = spawn relay\(n)(ch\(n), out\(n))")
            main.line("ch\(n) = out\(n)")
            receive(n, until: nil)
            main.line("join(tp\(n))")
            main.line("join(tr\(n))")
        default:
            // Several producers on one channel, none closes it: main takes exactly what they send.
            functions.append("fn prod\(n)(ch, k) {\n" + producer.text + "\n    return k\n}")
            let count = threads(random.int(in: 2...3))
            main.line("ch\(n) = channel(\(capacity))")
            for index in 0..<count { main.line("tp\(n)_\(index) = spawn prod\(n)(ch\(n), \(items))") }
            receive(n, until: items * count)
            for index in 0..<count { main.line("join(tp\(n)_\(index))") }
            main.line("expect s\(n) == \(expected * count)")
            main.line("print \"channel\(n)\", s\(n)")
            return
        }
        main.line("expect s\(n) == \(expected)")
        main.line("print \"channel\(n)\", s\(n)")
    }

    /// `cons<n>(ch)`: sums `v` over what arrives until the channel is closed.
    private func consumer(_ n: Int) -> String {
        """
        fn cons\(n)(ch) {
            s = 0
            x = recv(ch)
            while x != none {
                s = s + x.v
                x = recv(ch)
            }
            return s
        }
        """
    }

    /// Main receives from `ch<n>` into `s<n>` (until closed, or exactly `count` items), keeping
    /// some of the objects in an array for a while.
    private mutating func receive(_ n: Int, until count: Int?) {
        let keep = random.chance(50)
        main.line("s\(n) = 0")
        if keep { main.line("keep\(n) = new [4]") }
        if let count {
            main.open("repeat \(count)")
            main.line("x\(n) = recv(ch\(n))")
        } else {
            main.line("x\(n) = recv(ch\(n))")
            main.open("while x\(n) != none")
        }
        main.line("s\(n) = s\(n) + x\(n).v")
        if keep { main.line("keep\(n)[s\(n) % 4] = x\(n)") }
        if count == nil { main.line("x\(n) = recv(ch\(n))") }
        main.close()
        if keep { main.line("del keep\(n)") }
        main.line("del x\(n)")
    }

    // MARK: Globals shared by threads

    /// A tree in a global, read by several threads at once (and by main), each also making
    /// garbage that holds the shared tree.
    mutating func sharedGlobal() {
        let n = id()
        let (type, parents) = treeType(allowResurrecting: true)
        let tree = treeFunctions(n, type: type, parents: parents)
        let depth = depth(random.int(in: 1...6), for: type)
        globals.append("global gs\(n)")
        var body = SourceBlock(depth: 1)
        body.line("s = 0")
        body.open("repeat k")
        body.line("s = (s + \(tree.sum)(gs\(n))) % \(Generation.modulus)")
        if random.chance(60) { garbage(in: &body, holding: "gs\(n)") }
        if random.chance(30) {
            let weak = weakReference(to: "gs\(n)")
            body.line("w = \(weak)")
        }
        body.close()
        body.line("return s")
        functions.append("fn reader\(n)(k) {\n" + body.text + "\n}")
        main.line("gs\(n) = \(tree.build)(\(depth))")
        let count = threads(random.int(in: 1...3))
        var expected = 0
        for index in 0..<count {
            let rounds = random.int(in: 1...5)
            expected = (expected + rounds * tree.checksum(depth: depth)) % Generation.modulus
            main.line("t\(n)_\(index) = spawn reader\(n)(\(rounds))")
        }
        if random.chance(50) { main.line("expect \(tree.sum)(gs\(n)) == \(tree.checksum(depth: depth))") }
        main.line("r\(n) = 0")
        for index in 0..<count { main.line("r\(n) = (r\(n) + join(t\(n)_\(index))) % \(Generation.modulus)") }
        main.line("expect r\(n) == \(expected)")
        main.line("print \"shared\(n)\", r\(n)")
        main.line(random.chance(50) ? "gs\(n) = none" : "del gs\(n)")
    }

    /// A global array; each thread stores a tree of its own into one element.
    mutating func globalArray() {
        let n = id()
        let (type, parents) = treeType(allowResurrecting: true)
        let tree = treeFunctions(n, type: type, parents: parents)
        globals.append("global ga\(n)")
        functions.append("fn fill\(n)(i, d) {\n    ga\(n)[i] = \(tree.build)(d)\n    return i\n}")
        let count = threads(random.int(in: 1...4))
        main.line("ga\(n) = new [\(count)]")
        var expected = 0
        for index in 0..<count {
            let depth = depth(random.int(in: 0...5), for: type)
            expected = (expected + tree.checksum(depth: depth)) % Generation.modulus
            main.line("t\(n)_\(index) = spawn fill\(n)(\(index), \(depth))")
        }
        for index in 0..<count { main.line("join(t\(n)_\(index))") }
        main.line("s\(n) = 0")
        main.line("for i\(n) in range(len(ga\(n)))", "s\(n) = (s\(n) + \(tree.sum)(ga\(n)[i\(n)])) % \(Generation.modulus)")
        main.line("expect s\(n) == \(expected)")
        main.line("print \"global-array\(n)\", s\(n)")
        main.line(random.chance(50) ? "ga\(n) = none" : "del ga\(n)")
    }

    /// Threads that store into, read from and loop the slots of one shared object at once. What
    /// they see depends on the interleaving, so nothing of it is printed.
    mutating func racingSlots() {
        let n = id()
        let (first, second) = (referenceSlot(), referenceSlot())
        let shared = requireType(first == second ? [first] : [first, second], allowResurrecting: true)
        let item = requireType([], allowResurrecting: true)
        globals.append("global gx\(n)")
        var body = SourceBlock(depth: 1)
        body.open("repeat k")
        body.line("gx\(n).\(first) = new \(types[item].name)")
        body.line("y = gx\(n).\(first)")
        body.line("gx\(n).\(second) = y")
        if random.chance(40) { body.line("gx\(n).\(first) = gx\(n)") }
        if random.chance(30) {
            let weak = weakReference(to: "y")
            body.line("if y != none", "w = \(weak)")
        }
        body.line("y = none")
        body.close()
        body.line("return k")
        functions.append("fn racer\(n)(k) {\n" + body.text + "\n}")
        main.line("gx\(n) = new \(types[shared].name)")
        let count = threads(random.int(in: 2...3))
        for index in 0..<count { main.line("t\(n)_\(index) = spawn racer\(n)(\(random.int(in: 5...60)))") }
        for index in 0..<count { main.line("join(t\(n)_\(index))") }
        main.line(random.chance(50) ? "gx\(n) = none" : "del gx\(n)")
    }
}
