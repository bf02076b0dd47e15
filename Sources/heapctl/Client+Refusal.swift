// Client+Refusal: heapd may turn a connection away as it opens — `forbidden` for a user it does
// not let in, `too_many_connections`, `shutting_down` — with one error line, and close it at once.
// A request sent after that close fails (EPIPE), yet the line that says why is still in the
// socket: heapctl reads it, so the exit status is the refusal's (5, 4), not "no heapd" (3).

import HeapService

extension Client {
    /// Sends `request`; when the send finds the connection closed, the line heapd left before
    /// closing it (its refusal) if there is one. Nil when the request went out.
    func sendOrReadRefusal(_ request: Request) throws -> Response? {
        do {
            try send(request)
            return nil
        } catch ClientError.closed {
            guard let refusal = try? receive(), refusal.type == "error" else { throw ClientError.closed }
            return refusal
        }
    }
}
