// Server+Lines: the byte stream of a connection cut into request lines, on the event loop.
//
//   lines       split on "\n"; blank lines (spaces, tabs, "\r") are skipped
//   too long    a line longer than max_request_bytes is reported once (request_too_large) and
//               dropped as it arrives, up to its newline: never more than the limit is buffered
//   cost        every byte is searched for a newline once — `searched` bytes past the reader
//               index are known to hold none — so a 1 MiB line sent a byte at a time costs
//               1 MiB of searching, not half a tebibyte

import NIOCore

/// A request line, or the news that one was too long.
enum RequestLine: Sendable {
    case text(String)
    case tooLong
}

/// Finds the lines in a growing buffer. Invariants: `searched <= buffer.readableBytes`, and no
/// byte among the first `searched` readable ones is a newline; while `discarding`, nothing is
/// kept.
struct LineFramer {
    let maxLength: Int
    /// Readable bytes already searched for a newline.
    private var searched = 0
    /// Dropping the rest of an over-long line, up to its newline.
    private var discarding = false

    init(maxLength: Int) { self.maxLength = maxLength }

    /// The next line in `buffer` (which it consumes), or nil when more bytes are needed.
    mutating func next(in buffer: inout ByteBuffer) -> RequestLine? {
        while true {
            let view = buffer.readableBytesView
            guard let newline = view[(view.startIndex + searched)...].firstIndex(of: UInt8(ascii: "\n")) else {
                if discarding {
                    buffer.moveReaderIndex(forwardBy: view.count)
                    searched = 0
                } else if view.count > maxLength {
                    buffer.moveReaderIndex(forwardBy: view.count)
                    searched = 0
                    discarding = true
                    return .tooLong
                } else {
                    searched = view.count
                }
                return nil
            }
            let length = newline - view.startIndex
            searched = 0
            if discarding {
                // The end of a line already reported.
                buffer.moveReaderIndex(forwardBy: length + 1)
                discarding = false
                continue
            }
            if length > maxLength {
                buffer.moveReaderIndex(forwardBy: length + 1)
                return .tooLong
            }
            let line = buffer.readString(length: length) ?? ""
            buffer.moveReaderIndex(forwardBy: 1)
            if line.utf8.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\t") }) { continue }
            return .text(line)
        }
    }
}

/// The framer as the pipeline's first handler.
struct LineDecoder: ByteToMessageDecoder {
    typealias InboundOut = RequestLine
    var framer: LineFramer

    init(maxLength: Int) { framer = LineFramer(maxLength: maxLength) }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let line = framer.next(in: &buffer) else { return .needMoreData }
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }
}
