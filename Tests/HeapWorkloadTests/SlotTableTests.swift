// The table behind `x.s` resolved at run time, issue 12: its storage follows the slots a program
// declares, not (type ids × slot names) — which, for a program of 600 KB with thousands of types
// and tens of thousands of slot names, at the type ids of a busy shared heap, is gigabytes.

@testable import HeapWorkload
import Testing

/// `types` types of `slots` slots each, every slot name distinct, and per type a function that
/// writes each slot through its parameter (so every name is read by name at run time).
private func wideProgram(types: Int, slots: Int) -> String {
    var text = ""
    for type in 0..<types {
        text += "type T\(type) { " + (0..<slots).map { "s\(type)_\($0)" }.joined(separator: ", ") + " }\n"
        text += "fn f\(type)(x) {\n" + (0..<slots).map { "    x.s\(type)_\($0) = x\n" }.joined() + "    x.s\(type)_0 = none\n}\n"
    }
    text += "main {\n" + (0..<types).map { "    f\($0)(new T\($0))\n" }.joined() + "    print 1\n}\n"
    return text
}

@Suite struct SlotTableTests {
    @Test func aProgramOf600KBWithThousandsOfTypesAndSlotNamesHasASmallTable() throws {
        let types = 2200, slots = 8
        let source = wideProgram(types: types, slots: slots)
        #expect(source.utf8.count > 600_000)
        let checked = try Program.parse(source: source, fileName: "wide.hw")
        let compiled = Compiler.compile(checked, constants: checked.defaultConstants)
        #expect(compiled.slotNames.count == types * slots)
        // Type ids as a shared heap gives them out late in its life: near the top.
        let typeIDs = (0..<types).map { 65_000 - $0 }
        #expect(65_001 * compiled.slotNames.count * 4 > 4_000_000_000)
        let table = SlotTable(layouts: compiled.types, typeIDs: typeIDs, slotNames: compiled.slotNames)
        let entries = types * slots
        // At most 4 entries of 16 bytes per slot declared: 1 MiB here, where a dense table of
        // 4-byte entries would take 65,001 ids × 17,600 names × 4 bytes, 4.6 GB.
        #expect(table.capacity <= 4 * entries)
        #expect(table.storageBytes <= 64 * entries)
        #expect(table.storageBytes < 2 << 20)
        let names = Dictionary(uniqueKeysWithValues: compiled.slotNames.enumerated().map { ($1, $0) })
        for (index, layout) in compiled.types.enumerated() {
            for (slot, name) in layout.slots.enumerated() {
                #expect(table.slot(typeID: typeIDs[index], name: names[name]!) == slot)
            }
        }
        // A name of another type, and a type id the program does not have, find nothing.
        #expect(table.slot(typeID: typeIDs[0], name: names["s1_0"]!) == -1)
        #expect(table.slot(typeID: 7, name: names["s0_0"]!) == -1)
    }

    @Test func theWideProgramRuns() throws {
        let checked = try Program.parse(source: wideProgram(types: 300, slots: 8), fileName: "wide.hw")
        var configuration = RunConfiguration()
        configuration.collector = .manual
        let result = try Workload.run(checked, configuration: configuration)
        #expect(result.ok, "\(result.error.map(String.init(describing:)) ?? "")")
        #expect(result.output == ["1"])
        #expect(result.leaked == 0)
    }

    @Test func aFewSlotsMakeASmallTable() {
        let layouts = [TypeLayout(name: "Node", slots: ["left", "right"], payloadBytes: 0, finalizer: nil)]
        let table = SlotTable(layouts: layouts, typeIDs: [4], slotNames: ["right", "left", "other"])
        #expect(table.capacity == 8)
        #expect(table.slot(typeID: 4, name: 0) == 1)
        #expect(table.slot(typeID: 4, name: 1) == 0)
        #expect(table.slot(typeID: 4, name: 2) == -1)
        #expect(table.slot(typeID: 5, name: 1) == -1)
    }
}
