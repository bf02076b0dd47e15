// The request-line framer (Server+Lines) on its own: lines cut anywhere, blank lines, over-long
// lines reported once and never buffered past the limit, and a line that arrives a byte at a time
// costs its length (a framer that searched its whole buffer again for every byte would not finish
// these tests: a mebibyte a byte at a time is half a tebibyte of searching).

import NIOCore
import Testing
@testable import HeapService

/// Feeds `bytes` to a framer in pieces of `piece` bytes, as a channel's reads would, and collects
/// what it finds; `largest` is the most the buffer held between reads.
private func frame(_ bytes: [UInt8], piece: Int, maxLength: Int) -> (lines: [String], tooLong: Int, largest: Int) {
    var framer = LineFramer(maxLength: maxLength)
    var buffer = ByteBufferAllocator().buffer(capacity: 0)
    var lines: [String] = [], tooLong = 0, largest = 0
    var start = 0
    while start < bytes.count {
        buffer.writeBytes(bytes[start..<min(start + piece, bytes.count)])
        start += piece
        while let line = framer.next(in: &buffer) {
            switch line {
            case .text(let text): lines.append(text)
            case .tooLong: tooLong += 1
            }
        }
        largest = max(largest, buffer.readableBytes)
        // The channel's buffer moves its bytes down now and then; the framer's place is relative.
        if buffer.readerIndex > 4096 { buffer.discardReadBytes() }
    }
    return (lines, tooLong, largest)
}

@Suite struct LineFramerTests {
    @Test func linesAreFoundWhereverTheReadsCutThem() {
        let text = Array("{\"op\": \"ping\"}\n\n   \n{\"op\": \"stats\"}\r\n\t\nlast".utf8)
        for piece in [1, 2, 3, 7, 64] {
            let found = frame(text, piece: piece, maxLength: 100)
            #expect(found.lines == ["{\"op\": \"ping\"}", "{\"op\": \"stats\"}\r"], "pieces of \(piece)")
            #expect(found.tooLong == 0)
        }
    }

    @Test func anOverlongLineIsReportedOnceAndNeverBufferedPastTheLimit() {
        let limit = 1000
        let bytes = Array(repeating: UInt8(ascii: "x"), count: 10 * limit) + Array("\nnext\n".utf8)
            + Array(repeating: UInt8(ascii: "y"), count: limit + 1) + Array("\n".utf8)
            + Array(repeating: UInt8(ascii: "z"), count: limit) + Array("\n".utf8)
        for piece in [1, 10, 999, 4096] {
            let found = frame(bytes, piece: piece, maxLength: limit)
            #expect(found.lines == ["next", String(repeating: "z", count: limit)], "pieces of \(piece)")
            #expect(found.tooLong == 2)
            #expect(found.largest <= limit + piece)
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func aMebibyteLineSentAByteAtATimeIsFramedInLinearTime() {
        let line = [UInt8](repeating: UInt8(ascii: "a"), count: 1 << 20)
        let whole = frame(line + [UInt8(ascii: "\n")], piece: 1, maxLength: 1 << 20)
        #expect(whole.lines.count == 1)
        #expect(whole.lines.first?.utf8.count == 1 << 20)
        let refused = frame(line[..<(1 << 17)] + [UInt8(ascii: "\n")] + Array("ping\n".utf8), piece: 1, maxLength: 1 << 16)
        #expect(refused.tooLong == 1)
        #expect(refused.lines == ["ping"])
    }
}
