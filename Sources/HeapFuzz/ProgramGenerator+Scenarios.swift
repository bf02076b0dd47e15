// ProgramGenerator+Scenarios: the scenarios main runs on its own thread — lists and rings,
// trees with parent pointers, cyclic garbage, weak references, recursion, arrays, resurrection
// and collections from inside finalizers and callbacks. Each writes its lines into main (and its
// functions at top level) with names numbered by `id()`, so scenarios never share a local.
//
// Checks: `print` for a checksum the generator does not compute, `expect` where it knows the
// answer (a sum it computes the same way, a weak reference that must be cleared). A weak
// reference is expected cleared only when its referent cannot be alive: freed by reference
// counting (no cycle, no finalizer that resurrects) or by a full `gc.collect()` (nothing frozen:
// freeze and unfreeze only stand between scenarios, before this scenario's objects exist).

extension Generation {
    /// Appends one scenario to main (and what it needs around it).
    mutating func scenario() {
        let choices: [(weight: Int, name: String)] = [
            (3, "list"), (3, "tree"), (3, "cycles"), (3, "weak"), (2, "recursion"), (2, "arrays"),
            (2, "resurrection"), (1, "collect-in-hooks"), (3, "workers"), (3, "channel"),
            (2, "shared-global"), (1, "global-array"), (1, "racing-slots"),
        ]
        var roll = random.below(choices.reduce(0) { $0 + $1.weight })
        var name = choices[0].name
        for choice in choices {
            if roll < choice.weight { name = choice.name; break }
            roll -= choice.weight
        }
        scenarioNames.append(name)
        let inPhase = random.chance(10)
        let outer = main
        if inPhase { main = SourceBlock(depth: 2) }
        switch name {
        case "list": list()
        case "tree": tree()
        case "cycles": cycles()
        case "weak": weakReferences()
        case "recursion": recursion()
        case "arrays": arrays()
        case "resurrection": resurrection()
        case "collect-in-hooks": collectionsInHooks()
        case "workers": workers()
        case "channel": channel()
        case "shared-global": sharedGlobal()
        case "global-array": globalArray()
        default: racingSlots()
        }
        if inPhase {
            let inner = main
            main = outer
            main.line("phase \"\(name) \(scenarioNames.count)\" {")
            for line in inner.lines { main.line(line.dropFirst(4).description) }
            main.line("}")
        }
    }

    /// A count written as a literal or as a param declared for it.
    mutating func count(_ value: Int, _ n: Int) -> String {
        guard random.chance(25) else { return String(value) }
        params.append("param size\(n) = \(value)")
        return "size\(n)"
    }

    /// A reference slot name.
    mutating func referenceSlot() -> String {
        random.pick(Generation.slotPool.filter { $0 != "v" })
    }

    /// `expect deref(w) == none`, after a full collection when the referent was cyclic.
    mutating func expectCleared(_ weak: String, cyclic: Bool) {
        if cyclic || random.chance(20) { main.line("gc.collect()") }
        main.line("expect deref(\(weak)) == none, \"\(weak)'s referent is freed\"")
    }

    // MARK: Lists and rings

    mutating func list() {
        let n = id()
        let ring = random.chance(40)
        let doubly = random.chance(30)
        let check = random.chance(60)
        let type = requireType(doubly ? ["v", "next", "prev"] : ["v", "next"], allowResurrecting: !check)
        let length = limit(random.int(in: 3...80), for: type)
        let lengthText = count(length, n)
        let (scale, offset) = (random.int(in: 1...9), random.below(10))
        main.line("head\(n) = none")
        main.line("first\(n) = none")
        main.open("for i\(n) in range(\(lengthText))")
        main.line("n\(n) = new \(types[type].name)")
        main.line("n\(n).v = (i\(n) * \(scale) + \(offset)) % 97")
        main.line("n\(n).next = head\(n)")
        if doubly { main.line("if head\(n) != none", "head\(n).prev = n\(n)") }
        main.line("if first\(n) == none", "first\(n) = n\(n)")
        main.line("head\(n) = n\(n)")
        main.close()
        if ring { main.line("first\(n).next = head\(n)") }
        walk(n, steps: lengthText)
        main.line("print \"list\(n)\", s\(n)")
        if length >= 4 && random.chance(40) {
            // Unlink the second node: in a doubly linked list it stays reachable from the third.
            main.line("head\(n).next = head\(n).next.next")
            walk(n, steps: "\(lengthText) - 1")
            main.line("print \"list\(n) unlinked\", s\(n)")
        }
        if check {
            let weak = weakReference(to: "head\(n)")
            main.line("w\(n) = \(weak)")
        }
        for name in ["head", "n", "p", "first"] { main.line("del \(name)\(n)") }
        if check { expectCleared("w\(n)", cyclic: ring || doubly) }
    }

    /// `s<n>`: a checksum of `steps` nodes from `head<n>`, walking `next`.
    private mutating func walk(_ n: Int, steps: String) {
        main.line("s\(n) = 0")
        main.line("p\(n) = head\(n)")
        main.open("repeat \(steps)")
        main.line("s\(n) = (s\(n) * 31 + p\(n).v) % \(Generation.modulus)")
        main.line("p\(n) = p\(n).next")
        main.close()
    }

    // MARK: Trees

    /// A binary tree's builder and checksum, and the checksum's value for each depth.
    struct TreeFunctions {
        let build: String
        let sum: String
        let scale: Int
        let offset: Int
        let divisor: Int

        func checksum(depth: Int) -> Int {
            let value = (depth * scale + offset) % divisor
            guard depth > 0 else { return value }
            let child = checksum(depth: depth - 1)
            return (value + 3 * child + child) % Generation.modulus
        }
    }

    /// `build<n>(d)` and `sum<n>(t)` for a type with v, left, right (and parent).
    mutating func treeFunctions(_ n: Int, type: Int, parents: Bool) -> TreeFunctions {
        let tree = TreeFunctions(build: "build\(n)", sum: "sum\(n)", scale: random.int(in: 1...9), offset: random.below(10),
                                 divisor: random.int(in: 5...50))
        let name = types[type].name
        var body = SourceBlock(depth: 1)
        body.line("x = new \(name)")
        body.line("x.v = (d * \(tree.scale) + \(tree.offset)) % \(tree.divisor)")
        body.open("if d > 0")
        body.line("x.left = \(tree.build)(d - 1)")
        body.line("x.right = \(tree.build)(d - 1)")
        if parents {
            body.line("x.left.parent = x")
            body.line("x.right.parent = x")
        }
        body.close()
        body.line("return x")
        functions.append("fn \(tree.build)(d) {\n" + body.text + "\n}")
        functions.append("""
            fn \(tree.sum)(t) {
                if t == none { return 0 }
                return (t.v + 3 * \(tree.sum)(t.left) + \(tree.sum)(t.right)) % \(Generation.modulus)
            }
            """)
        return tree
    }

    /// The type of a tree's nodes and whether they point at their parents.
    mutating func treeType(allowResurrecting: Bool) -> (type: Int, parents: Bool) {
        let parents = random.chance(60)
        return (requireType(parents ? ["v", "left", "right", "parent"] : ["v", "left", "right"], allowResurrecting: allowResurrecting), parents)
    }

    /// Tree depths: nodes of types with finalizers may nest their finalizers along a path.
    func depth(_ wanted: Int, for type: Int) -> Int {
        types[type].finalizer == nil ? wanted : min(wanted, 4)
    }

    mutating func tree() {
        let n = id()
        let check = random.chance(60)
        let (type, parents) = treeType(allowResurrecting: !check)
        let tree = treeFunctions(n, type: type, parents: parents)
        let depth = depth(random.int(in: 1...7), for: type)
        main.line("t\(n) = \(tree.build)(\(depth))")
        main.line("expect \(tree.sum)(t\(n)) == \(tree.checksum(depth: depth))")
        main.line("print \"tree\(n)\", \(tree.sum)(t\(n))")
        if random.chance(50) {
            main.line("t\(n).left = none")
            main.line("print \"tree\(n) pruned\", \(tree.sum)(t\(n))")
        }
        if depth >= 2 && random.chance(40) {
            main.line("t\(n).right.left = \(tree.build)(\(random.below(3)))")
            if parents { main.line("t\(n).right.left.parent = t\(n).right") }
            main.line("print \"tree\(n) grafted\", \(tree.sum)(t\(n))")
        }
        if check {
            let weak = weakReference(to: "t\(n)")
            main.line("w\(n) = \(weak)")
        }
        main.line(random.chance(50) ? "del t\(n)" : "t\(n) = none")
        if check { expectCleared("w\(n)", cyclic: parents) }
    }

    // MARK: Cyclic garbage

    mutating func cycles() {
        let n = id()
        let check = random.chance(60)
        let (x, y) = (referenceSlot(), referenceSlot())
        let first = requireType([x], allowResurrecting: !check)
        let second = requireType([y], allowResurrecting: !check)
        let both = types[first].finalizer == nil && types[second].finalizer == nil
        let rounds = random.int(in: 5...(both ? 150 : 50))
        let selfLoop = random.chance(25)
        let array = random.chance(30)
        let spare = types[first].referenceSlots.first { $0 != x }
        let weakInside = spare != nil && random.chance(40)
        let roundsText = count(rounds, n)
        main.open("repeat \(roundsText)")
        main.line("a\(n) = new \(types[first].name)")
        main.line("b\(n) = new \(types[second].name)")
        main.line("a\(n).\(x) = \(selfLoop ? "a\(n)" : "b\(n)")")
        main.line("b\(n).\(y) = a\(n)")
        if types[first].slots.contains("v") { main.line("a\(n).v = \(random.below(50))") }
        if weakInside, let spare {
            // A weak reference that is garbage itself: its callback must not run (CPython's rule).
            let weak = weakReference(to: "b\(n)")
            main.line("a\(n).\(spare) = \(weak)")
        }
        if array {
            main.line("r\(n) = new [\(random.int(in: 2...5))]")
            main.line("r\(n)[0] = r\(n)")
            main.line("r\(n)[1] = a\(n)")
        }
        main.close()
        if random.chance(30) { main.line("found\(n) = gc.collect(\(random.below(3)))") }
        if check {
            let weak = weakReference(to: "a\(n)")
            main.line("w\(n) = \(weak)")
        }
        main.line("del a\(n)")
        main.line("del b\(n)")
        if array { main.line("del r\(n)") }
        if check { expectCleared("w\(n)", cyclic: true) }
    }

    // MARK: Weak references

    mutating func weakReferences() {
        let n = id()
        let slots = random.chance(25) ? [] : [random.chance(50) ? "v" : referenceSlot()]
        let type = requireType(slots, allowResurrecting: false)
        let name = types[type].name
        switch random.below(3) {
        case 0:
            // One object: strong, weak, a weak reference to the weak reference.
            main.line("x\(n) = new \(name)")
            let weak = weakReference(to: "x\(n)")
            main.line("w\(n) = \(weak)")
            main.line("ww\(n) = weak(w\(n))")
            main.line("expect deref(w\(n)) != none")
            main.line("expect gc.is_tracked(x\(n)) == \(types[type].slots.isEmpty ? 0 : 1)")
            main.line("print \"weak\(n)\", gc.is_tracked(x\(n)), gc.is_finalized(x\(n))")
            main.line("y\(n) = deref(w\(n))")
            main.line("del x\(n)")
            main.line("expect deref(w\(n)) != none, \"y\(n) holds it\"")
            main.line("del y\(n)")
            expectCleared("w\(n)", cyclic: false)
            main.line("del w\(n)")
            main.line("expect deref(ww\(n)) == none, \"a weak reference is an object too\"")
        case 1:
            // Many weak references to one object (or array), some with callbacks.
            let array = random.chance(30)
            let made = array ? "new [\(random.int(in: 1...6))]" : "new \(name)"
            main.line("x\(n) = \(made)")
            let refs = random.int(in: 2...6)
            let weak = weakReference(to: "x\(n)")
            main.line("ws\(n) = new [\(refs)]")
            main.line("for i\(n) in range(\(refs))", "ws\(n)[i\(n)] = \(weak)")
            main.line("expect deref(ws\(n)[\(refs - 1)]) != none")
            main.line("del x\(n)")
            main.line("for i\(n) in range(\(refs))", "expect deref(ws\(n)[i\(n)]) == none")
            main.line("del ws\(n)")
        default:
            // A weak reference kept in its own referent, and in a cycle with it.
            let holder = requireType([referenceSlot()], allowResurrecting: false)
            let slot = types[holder].referenceSlots[0]
            main.line("x\(n) = new \(types[holder].name)")
            let inner = weakReference(to: "x\(n)")
            main.line("x\(n).\(slot) = \(inner)")
            let weak = weakReference(to: "x\(n)")
            main.line("w\(n) = \(weak)")
            main.line("expect deref(x\(n).\(slot)) == x\(n)")
            main.line("del x\(n)")
            expectCleared("w\(n)", cyclic: false)
        }
    }

    // MARK: Recursion and arrays

    mutating func recursion() {
        let n = id()
        if random.chance(50) {
            let type = requireType(["v"], allowResurrecting: true)
            let depth = random.int(in: 10...300)
            let divisor = random.int(in: 2...13)
            functions.append("""
                fn rec\(n)(k) {
                    if k <= 0 { return 0 }
                    x = new \(types[type].name)
                    x.v = k % \(divisor)
                    return (x.v + rec\(n)(k - 1)) % \(Generation.modulus)
                }
                """)
            let expected = (1...depth).reduce(0) { ($0 + $1 % divisor) % Generation.modulus }
            main.line("expect rec\(n)(\(depth)) == \(expected)")
        } else {
            // Nested arrays, built by recursion and summed by a loop (freed iteratively).
            let depth = random.int(in: 5...250)
            functions.append("""
                fn nest\(n)(k) {
                    if k == 0 { return none }
                    a = new [2]
                    a[0] = nest\(n)(k - 1)
                    a[1] = k
                    return a
                }
                fn total\(n)(a) {
                    s = 0
                    while a != none {
                        s = s + a[1]
                        a = a[0]
                    }
                    return s
                }
                """)
            main.line("nested\(n) = nest\(n)(\(depth))")
            main.line("expect total\(n)(nested\(n)) == \(depth * (depth + 1) / 2)")
            main.line("print \"nest\(n)\", total\(n)(nested\(n))")
            main.line(random.chance(50) ? "del nested\(n)" : "nested\(n) = \(random.chance(50) ? "none" : "0")")
        }
    }

    mutating func arrays() {
        let n = id()
        let check = random.chance(50)
        let type = requireType(["v"], allowResurrecting: !check)
        let length = limit(random.int(in: 3...60), for: type)
        let third = random.chance(50) ? "a\(n)" : "new [1]"
        main.line("a\(n) = new [\(length)]")
        main.open("for i\(n) in range(\(length))")
        main.open("if i\(n) % 3 == 0")
        main.line("a\(n)[i\(n)] = i\(n)")
        main.close()
        main.open("elif i\(n) % 3 == 1")
        main.line("o\(n) = new \(types[type].name)")
        main.line("o\(n).v = i\(n) % 50")
        main.line("a\(n)[i\(n)] = o\(n)")
        main.close()
        main.line("else", "a\(n)[i\(n)] = \(third)")
        main.close()
        main.line("s\(n) = 0")
        main.open("for i\(n) in range(len(a\(n)))")
        main.line("e\(n) = a\(n)[i\(n)]")
        main.line("if i\(n) % 3 == 0", "s\(n) = s\(n) + e\(n)")
        main.line("elif i\(n) % 3 == 1", "s\(n) = s\(n) + e\(n).v")
        main.close()
        let expected = (0..<length).reduce(0) { sum, i in sum + (i % 3 == 0 ? i : i % 3 == 1 ? i % 50 : 0) }
        main.line("expect s\(n) == \(expected)")
        main.line("print \"array\(n)\", s\(n), len(a\(n))")
        main.line("del e\(n)")
        main.line("del o\(n)")
        if check {
            let weak = weakReference(to: "a\(n)")
            main.line("w\(n) = \(weak)")
        }
        main.line("del a\(n)")
        if check { expectCleared("w\(n)", cyclic: true) }
    }

    // MARK: Finalizers

    /// Objects whose finalizer stores them in a global; main lets them go again later.
    mutating func resurrection() {
        let n = id()
        let slot = referenceSlot()
        let fitting = types.indices.filter { !types[$0].reserved && types[$0].resurrects && types[$0].slots.contains(slot) }
        let type: Int
        if let existing = fitting.first, random.chance(50) {
            type = existing
        } else {
            var plan = FinalizerPlan()
            plan.resurrectsInto = resurrectionGlobal()
            plan.clearsSlots = random.chance(40)
            plan.allocates = random.chance(40)
            type = addType(slots: random.shuffled([slot] + (random.chance(50) ? ["v"] : [])), finalizer: plan, reserved: false)
        }
        let global = types[type].finalizer!.resurrectsInto!
        main.open("repeat \(random.int(in: 1...20))")
        main.line("r\(n) = new \(types[type].name)")
        if random.chance(50) { main.line("r\(n).\(slot) = r\(n)") }
        main.close()
        main.line("del r\(n)")
        if random.chance(50) { main.line("gc.collect()") }
        if random.chance(60) { main.line("\(global) = none") }
        if random.chance(40) { main.line("gc.collect()") }
    }

    /// `gc.collect()` from a finalizer and from a weak reference's callback: legal outside a
    /// collection, so only for objects that die by reference counting in main.
    mutating func collectionsInHooks() {
        let n = id()
        var plan = FinalizerPlan()
        plan.collects = true
        plan.allocates = random.chance(50)
        plan.loops = random.chance(30)
        let reaper = addType(slots: random.chance(50) ? [] : ["v"], finalizer: plan, reserved: true)
        main.line("repeat \(random.int(in: 1...4))", "rp\(n) = new \(types[reaper].name)")
        main.line("del rp\(n)")
        let type = requireType([], allowResurrecting: false)
        main.line("lf\(n) = new \(types[type].name)")
        let callback = collectingCallback()
        main.line("wc\(n) = weak(lf\(n), \(callback))")
        main.line("del lf\(n)")
        main.line("expect deref(wc\(n)) == none")
        main.line("del wc\(n)")
    }
}
