// SourceMutator: broken variants of valid workload sources, for the front-end fuzzer. It works
// on bytes (so that it can write what is not UTF-8), cut roughly into tokens — runs of
// identifier characters, runs of blanks, single other bytes — and lines, and applies one to four
// of these mutations, chosen by a seeded SplitMix64:
//
//   token: delete, duplicate, swap two, replace an identifier by another of the source, a
//          number by an extreme one (beyond 64 bits, 2^62, malformed literals), an identifier by
//          a very long one
//   line:  delete, duplicate, swap two, copy one elsewhere
//   bytes: insert random bytes, keywords, builtins and punctuation; insert bytes that are not
//          UTF-8; flip a byte; truncate
//   shape: unbalance braces, parentheses and brackets; nest an expression or a block hundreds
//          deep
//
// Most variants are rejected with diagnostics; some still check (a changed number, a swapped
// statement) and the fuzzer runs a share of those with tight limits.

public enum SourceMutator {
    /// A mutated copy of `source`: the same for the same seed.
    public static func mutate(_ source: [UInt8], seed: UInt64) -> [UInt8] {
        var random = SplitMix64(seed: seed)
        var bytes = source
        let count = random.chance(70) ? 1 : random.int(in: 2...4)
        for _ in 0..<count {
            bytes = mutateOnce(bytes, &random)
        }
        return bytes
    }

    static let inserts: [String] = [
        "{", "}", "(", ")", "[", "]", "=", "==", ".", ",", ";", "\n", "\"", "#", "-", "<<", "%", "/",
        "param", "global", "type", "payload", "finalize", "fn", "main", "if", "elif", "else", "while", "for", "in",
        "repeat", "break", "continue", "return", "del", "print", "expect", "phase", "new", "spawn", "none", "true",
        "false", "and", "or", "not", "self", "len", "weak", "deref", "refcount", "rand", "channel", "send", "recv",
        "close", "join", "gc", "range", "gc.collect()", "gc.freeze()", "gc.set_threshold(0)", "gc.set_threshold(1)",
        "new [3]", "new T0", "x.v", "self.next = self", "main { }", "fn f(a) { return f(a) }", "type Q { a }",
        "weak(x, cb0)", "spawn f()", "recv(ch)", "join(t)", "del x", "return 1", "break", "\"unterminated",
        "\"\\q\"", "\t", "\r", "@", "$", "`", "\\",
    ]

    static let numbers: [String] = [
        "0", "-1", "1", "2", "63", "64", "4611686018427387903", "4611686018427387904", "-4611686018427387905",
        "9223372036854775807", "-9223372036854775808", "9223372036854775808", "99999999999999999999",
        "0x", "0xFFFFFFFFFFFFFFFF", "0x7fff_ffff_ffff_ffff", "1_", "1__0", "_1", "00", "007", "1e9", "1.5",
        "2147483647", "2147483648", "16777216", "67108864",
    ]

    /// Bytes that are not UTF-8 (alone, truncated, overlong, surrogates, beyond U+10FFFF).
    static let invalidUTF8: [[UInt8]] = [
        [0xFF], [0xFE], [0x80], [0xC3], [0xC0, 0x80], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
        [0xF0, 0x9F, 0x98], [0xC3, 0x28], [0x00],
    ]

    private static func mutateOnce(_ bytes: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var tokens = tokenize(bytes)
        guard !tokens.isEmpty else { return Array(random.pick(inserts).utf8) }
        let index = random.below(tokens.count)
        switch random.below(18) {
        case 0:
            tokens.remove(at: index)
        case 1:
            tokens.insert(tokens[index], at: index)
        case 2:
            tokens.swapAt(index, random.below(tokens.count))
        case 3:
            let identifiers = tokens.filter(isIdentifier)
            if let target = tokens.indices.filter({ isIdentifier(tokens[$0]) }).randomElement(&random), !identifiers.isEmpty {
                tokens[target] = random.pick(identifiers)
            }
        case 4:
            let target = tokens.indices.filter { isNumber(tokens[$0]) }.randomElement(&random) ?? index
            tokens[target] = Array(random.pick(numbers).utf8)
        case 5:
            let target = tokens.indices.filter { isIdentifier(tokens[$0]) }.randomElement(&random) ?? index
            tokens[target] = [UInt8](repeating: UInt8(ascii: "a") + UInt8(random.below(26)), count: random.pick([300, 5000, 100_000]))
        case 6, 7, 8, 9:
            return mutateLines(bytes, &random)
        case 10:
            tokens.insert(Array(random.pick(inserts).utf8), at: index)
        case 11:
            tokens.insert((0..<random.int(in: 1...8)).map { _ in UInt8(random.below(256)) }, at: index)
        case 12:
            tokens.insert(random.pick(invalidUTF8), at: index)
        case 13:
            var flipped = bytes
            let offset = random.below(flipped.count)
            flipped[offset] ^= UInt8(1 << random.below(8))
            return flipped
        case 14:
            return Array(bytes.prefix(random.below(bytes.count)))
        case 15:
            let brackets = tokens.indices.filter { [UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "("), UInt8(ascii: ")"),
                                                    UInt8(ascii: "["), UInt8(ascii: "]")].contains(tokens[$0].first ?? 0) && tokens[$0].count == 1 }
            if let target = brackets.randomElement(&random), random.chance(50) {
                tokens.remove(at: target)
            } else {
                tokens.insert(Array(random.pick(["{", "}", "(", ")", "[", "]", "}}}", "{{{"]).utf8), at: index)
            }
        case 16:
            // An expression nested deep: parentheses, negations, calls or indexing, around a number.
            let depth = random.pick([50, 150, 199, 200, 201, 300, 2000])
            let (open, close) = random.pick([("(", ")"), ("-", ""), ("not ", ""), ("f(", ")"), ("new [", "]"), ("[", "]")])
            let target = tokens.indices.filter { isNumber(tokens[$0]) }.randomElement(&random) ?? index
            tokens[target] = Array((String(repeating: open, count: depth) + "1" + String(repeating: close, count: depth)).utf8)
        default:
            // A block nested deep, at a line start.
            let depth = random.pick([50, 190, 199, 200, 201, 500])
            let header = random.pick(["if 1 {\n", "while 0 {\n", "repeat 1 {\n", "phase \"p\" {\n", "{\n"])
            let body = String(repeating: header, count: depth) + "x = 1\n" + String(repeating: "}\n", count: random.chance(80) ? depth : depth / 2)
            tokens.insert(Array(body.utf8), at: index)
        }
        return tokens.flatMap { $0 }
    }

    private static func mutateLines(_ bytes: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map(Array.init)
        let index = random.below(lines.count)
        switch random.below(4) {
        case 0: lines.remove(at: index)
        case 1: lines.insert(lines[index], at: index)
        case 2: lines.swapAt(index, random.below(lines.count))
        default: lines.insert(lines[index], at: random.below(lines.count))
        }
        return Array(lines.joined(separator: [UInt8(ascii: "\n")]))
    }

    /// Runs of identifier characters (letters, digits, `_`), runs of blanks, and single bytes.
    static func tokenize(_ bytes: [UInt8]) -> [[UInt8]] {
        var tokens: [[UInt8]] = []
        var index = 0
        while index < bytes.count {
            let start = index
            if isWord(bytes[index]) {
                while index < bytes.count && isWord(bytes[index]) { index += 1 }
            } else if bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") {
                while index < bytes.count && (bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t")) { index += 1 }
            } else {
                index += 1
            }
            tokens.append(Array(bytes[start..<index]))
        }
        return tokens
    }

    private static func isWord(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
    }

    private static func isIdentifier(_ token: [UInt8]) -> Bool {
        guard let first = token.first else { return false }
        return isWord(first) && !(first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9"))
    }

    private static func isNumber(_ token: [UInt8]) -> Bool {
        guard let first = token.first else { return false }
        return first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9")
    }
}

extension Array {
    /// A random element chosen by SplitMix64 (the standard library's choice may change between
    /// toolchains), or nil when empty.
    func randomElement(_ random: inout SplitMix64) -> Element? {
        isEmpty ? nil : self[random.below(count)]
    }
}
