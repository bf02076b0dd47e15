// SourceText: the bytes of one workload file, how they divide into lines and columns, and the
// source line a diagnostic quotes.
//
// A workload is read as raw bytes, not as a Swift String, so that bytes that are not UTF-8 reach
// the lexer (which reports them) instead of being replaced silently on the way in.
//
// Columns count *units*: one unit is a valid UTF-8 encoded scalar (1 to 4 bytes) or one byte that
// starts no valid sequence. The lexer and the caret renderer both step with `unit(at:)`, so a
// caret lands under the column the lexer reported, whatever the line holds. A tab is one column;
// the renderer copies tabs into the caret line so the caret stays aligned in a terminal.

/// A place in a source file: 1-based line and column (columns count Unicode scalars).
/// `SourceLocation.none` (0:0) marks a diagnostic that belongs to no place in the source.
public struct SourceLocation: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// No place in the source (an unknown `--param` name, say).
    public static let none = SourceLocation(line: 0, column: 0)

    public static func < (a: SourceLocation, b: SourceLocation) -> Bool {
        (a.line, a.column) < (b.line, b.column)
    }

    public var description: String { "\(line):\(column)" }
}

/// The text of one workload file as bytes, with its line starts.
public struct SourceText: Sendable, Equatable {
    public let bytes: [UInt8]
    /// Byte offset of the first byte of each line; `lineStarts[0] == 0`.
    private let lineStarts: [Int]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
        var starts = [0]
        for (offset, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
            starts.append(offset + 1)
        }
        lineStarts = starts
    }

    public init(_ text: String) {
        self.init(bytes: Array(text.utf8))
    }

    /// How many lines the text has (a final line break starts one more, empty line).
    public var lineCount: Int { lineStarts.count }

    /// The text of line `line` (1-based) without its line break; bytes that are not UTF-8 become
    /// U+FFFD, one per byte, so that columns still match. Nil for a line the file does not have.
    public func line(_ line: Int) -> String? {
        line >= 1 && line <= lineCount ? decode(units: lineUnits(line)) : nil
    }

    /// The units of line `line` (1...lineCount), in order (no line break, no trailing carriage
    /// return).
    func lineUnits(_ line: Int) -> [SourceUnit] {
        let start = lineStarts[line - 1]
        var end = line < lineStarts.count ? lineStarts[line] - 1 : bytes.count
        if end > start && bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        var units: [SourceUnit] = []
        var offset = start
        while offset < end {
            let unit = SourceText.unit(in: bytes, at: offset, end: end)
            units.append(unit)
            offset += unit.length
        }
        return units
    }

    private func decode(units: [SourceUnit]) -> String {
        var text = String.UnicodeScalarView()
        for unit in units { text.append(unit.scalar ?? "\u{FFFD}") }
        return String(text)
    }

    /// Decodes the unit that starts at `offset` (which must be below `end`): a scalar when the
    /// bytes there are well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing
    /// above U+10FFFF), otherwise the single byte at `offset`.
    static func unit(in bytes: [UInt8], at offset: Int, end: Int) -> SourceUnit {
        let lead = bytes[offset]
        if lead < 0x80 { return SourceUnit(scalar: Unicode.Scalar(lead), length: 1) }
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xE1...0xEF: length = 3
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: return SourceUnit(scalar: nil, length: 1)
        }
        guard offset + length <= end, secondRange.contains(bytes[offset + 1]) else {
            return SourceUnit(scalar: nil, length: 1)
        }
        var value = UInt32(lead) & (0xFF >> (length + 1))
        for index in 1..<length {
            let byte = bytes[offset + index]
            guard index == 1 || (0x80...0xBF).contains(byte) else { return SourceUnit(scalar: nil, length: 1) }
            value = value << 6 | UInt32(byte & 0x3F)
        }
        return SourceUnit(scalar: Unicode.Scalar(value), length: length)
    }
}

/// One column's worth of source: a scalar and the bytes it took, or (scalar nil) one byte that
/// is not UTF-8.
struct SourceUnit {
    var scalar: Unicode.Scalar?
    var length: Int
}
