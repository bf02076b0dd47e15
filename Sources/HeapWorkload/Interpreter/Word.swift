// Word: one register, global or channel entry — a tagged 64-bit value.
//
//   bits                      value
//   0                         none
//   x…x1                      integer x (63-bit: −2^62 … 2^62−1), stored as 2x + 1
//   x…x0010                   handle x (a channel or a thread, in the run's handle table)
//   x…x0000 (non-zero)        an object: its address (objects are 16-byte aligned)
//
// The low four bits of an object word are zero and of every other non-none word are not: that
// is what lets a global holding either kind be loaded safely while another thread overwrites it
// (`Mutator.loadShared` tries to retain only words that can be objects).

import HeapCore

typealias Word = UInt

enum Words {
    static let none: Word = 0
    static let intMin: Int64 = -(1 << 62)
    static let intMax: Int64 = (1 << 62) - 1

    @inline(__always) static func isObject(_ word: Word) -> Bool { word != 0 && word & 15 == 0 }
    @inline(__always) static func isInt(_ word: Word) -> Bool { word & 1 == 1 }
    @inline(__always) static func isHandle(_ word: Word) -> Bool { word & 15 == 2 }

    /// The integer's word; nil when it does not fit 63 bits.
    @inline(__always) static func int(_ value: Int64) -> Word? {
        guard value >= intMin && value <= intMax else { return nil }
        return Word(bitPattern: Int(value) &<< 1 | 1)
    }

    @inline(__always) static func intValue(_ word: Word) -> Int64 { Int64(Int(bitPattern: word) >> 1) }

    @inline(__always) static func bool(_ value: Bool) -> Word { value ? 3 : 1 }

    @inline(__always) static func handle(_ index: Int) -> Word { Word(index) << 4 | 2 }
    @inline(__always) static func handleIndex(_ word: Word) -> Int { Int(word >> 4) }

    @inline(__always) static func object(_ word: Word) -> ObjectRef { ObjectRef(bits: word)! }

    /// Python's truth: none and 0 are false, everything else is true.
    @inline(__always) static func isTrue(_ word: Word) -> Bool { word != 0 && word != 1 }
}
