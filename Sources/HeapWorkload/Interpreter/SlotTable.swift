// SlotTable: where `x.s` finds its slot when x's type is known only at run time — (heap type id,
// slot-name number) → the slot's index in objects of that type. (Accesses through a local of
// known type were resolved by the compiler and never come here.)
//
// An open-addressing hash table, linear probing. The home of (type id t, name number n) is the
// top bits of t·A + n·B (multiplicative hashing with two odd constants: the two products are
// made side by side, so the loop waits for one multiply, as it did for the dense table's
// t·names + n). It holds one entry per slot that one of the run's types declares under a name
// the program reads by name, so its size follows the program's text, not types × names:
//
//   entries <= Σ over the run's types of their slot counts
//   capacity = the smallest power of two >= 2 · entries, and at least 8
//
// At most half of it is full, so every probe sequence reaches an empty entry (the key
// `SlotTable.empty`, which no type id below 2^16 makes). A dense table indexed by
// type id × name number would take (up to 65,535 ids in a shared heap) × (distinct names read
// by name) entries: gigabytes for a program of a few hundred kilobytes.
//
// Keys and slot indices are two arrays with one index, so that both loads start at once.
// Written in init, read-only afterwards, from any thread. The table owns `keys` and `slots`
// (allocated in init, freed in deinit; no pointer to them escapes).

struct SlotTable: ~Copyable {
    /// The key of an empty entry.
    static let empty = UInt64.max
    /// 2^64 / φ (Knuth's multiplicative hashing) for type ids, and an odd constant of xxHash's
    /// for name numbers.
    static let typeMultiplier: UInt64 = 0x9E37_79B9_7F4A_7C15
    static let nameMultiplier: UInt64 = 0xC2B2_AE3D_27D4_EB4F

    /// `typeID << 32 | name` per entry, or `empty`.
    private let keys: UnsafeMutablePointer<UInt64>
    /// The slot's index in objects of the type, per entry (-1 in an empty one).
    private let slots: UnsafeMutablePointer<Int>
    /// A power of two.
    let capacity: Int
    /// 64 - log2(capacity): the home is the top bits of the hash.
    private let shift: UInt64

    /// The table for the program's types (`layouts`), whose heap type ids are `typeIDs` in the
    /// same order, and the names the program reads by name (`slotNames`, numbered by index).
    init(layouts: [TypeLayout], typeIDs: [Int], slotNames: [String]) {
        let nameNumbers = Dictionary(slotNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        var wanted: [(typeID: Int, name: Int, slot: Int)] = []
        for (layout, typeID) in zip(layouts, typeIDs) {
            for (slot, name) in layout.slots.enumerated() {
                if let number = nameNumbers[name] { wanted.append((typeID, number, slot)) }
            }
        }
        var capacity = 8
        while capacity < 2 * wanted.count { capacity *= 2 }
        self.capacity = capacity
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        keys = .allocate(capacity: capacity)
        keys.initialize(repeating: SlotTable.empty, count: capacity)
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: -1, count: capacity)
        for (typeID, name, slot) in wanted {
            var index = home(typeID: typeID, name: name)
            while keys[index] != SlotTable.empty { index = (index &+ 1) & (capacity &- 1) }
            keys[index] = SlotTable.key(typeID: typeID, name: name)
            slots[index] = slot
        }
    }

    deinit {
        keys.deallocate()
        slots.deallocate()
    }

    /// Bytes of the table's storage.
    var storageBytes: Int { capacity * (MemoryLayout<UInt64>.stride + MemoryLayout<Int>.stride) }

    @inline(__always)
    static func key(typeID: Int, name: Int) -> UInt64 {
        UInt64(truncatingIfNeeded: typeID) &<< 32 | UInt64(truncatingIfNeeded: UInt32(truncatingIfNeeded: name))
    }

    @inline(__always)
    private func home(typeID: Int, name: Int) -> Int {
        let hash = UInt64(truncatingIfNeeded: typeID) &* SlotTable.typeMultiplier &+ UInt64(truncatingIfNeeded: name) &* SlotTable.nameMultiplier
        return Int(truncatingIfNeeded: hash &>> shift)
    }

    /// The index of the slot called by name number `name` in objects of type `typeID`, or -1
    /// when the type has none. Budget: two multiplies side by side, an add, a shift and two
    /// loads side by side when the key sits in its home entry (`x.left` of binary-trees'
    /// `check`); `probe` walks on otherwise.
    @inline(__always)
    func slot(typeID: Int, name: Int) -> Int {
        let index = home(typeID: typeID, name: name)
        let key = SlotTable.key(typeID: typeID, name: name)
        if _fastPath(keys[index] == key) { return slots[index] }
        return probe(key, after: index)
    }

    /// The entries after `index`, up to the key or an empty entry.
    @inline(never)
    private func probe(_ key: UInt64, after index: Int) -> Int {
        var index = index
        while keys[index] != SlotTable.empty {
            index = (index &+ 1) & (capacity &- 1)
            if keys[index] == key { return slots[index] }
        }
        return -1
    }
}
