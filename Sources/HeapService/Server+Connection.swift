// Server+Connection: one connection's life, on the event loop.
//
//   state         | what happens                                     | next
//   --------------+--------------------------------------------------+--------------------------
//   awaitingPeer  | credentials: owner or member, and under the caps | serving (reading starts)
//   awaitingPeer  | credentials: refused, a cap is reached, or the   | closed, after one line
//                 | server stops                                     | (forbidden, too_many_connections
//                 |                                                  | or shutting_down)
//   serving       | idle_timeout_seconds silent, nothing unanswered  | closed, after one idle_timeout line
//   serving       | a streamed event past output_high_water_bytes    | closed, its runs cancelled
//   serving       | the server stops (Finish), or the client shuts   | finishing (reading stops)
//                 | its sending side (inputClosed: a half-close)     |
//   finishing     | nothing unanswered (at once, or when the last    | closed, after that answer
//                 | answer is written)                               | is on the socket
//   any           | the peer closes, or the channel fails            | closed (runs cancelled, slot freed)
//
// Peers: an owner is known from SO_PEERCRED's uid; anyone else's level needs the supplementary
// groups the kernel recorded at connect (SO_PEERGROUPS, Access.swift), both read on the loop. A
// finishing connection lets the lines it has read be answered, in order, before it closes: a
// `shutdown` and the requests after it in the same write all get their answers, and so does a
// client that sent its requests and half-closed (its runs go on until they end: it is waiting for
// them; one that then closes altogether is gone, and they are cancelled).
//
// Reading: the channel reads only when asked (autoRead off) — while serving, with fewer than
// `maximumWaitingLines` lines waiting for the pool, and while the channel is writable (its
// unread responses under NIO's write-buffer mark). A client that sends and never reads thus
// fills its own socket, not heapd's memory.
//
// Counts (loop only): waitingLines = lines handed to the pool − lines the service has taken;
// unanswered = lines handed to the pool − final responses handed to the channel. Every request
// line gets exactly one final response (Server+Output).

import Dispatch
import Foundation
import Logging
import NIOCore

/// Admits a connection, hands its lines to the service on the request pool and watches it for
/// idleness. Not Sendable: every stored property belongs to the event loop; work done elsewhere
/// comes back through `NIOLoopBound`.
final class ConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = RequestLine
    typealias OutboundOut = ByteBuffer

    /// Lines read and not yet taken by the service, past which the connection stops reading.
    static let maximumWaitingLines = 16

    enum State {
        case awaitingPeer
        case serving(Caller)
        case finishing(Caller)
        case closed
    }

    /// The server is stopping: answer what was read, read nothing more, then close.
    struct Finish: Sendable {}

    private let service: Service
    private let access: PeerAccess
    private let table: ConnectionTable
    private let limits: ConnectionLimits
    /// Serial, on the request pool: this connection's requests, one at a time and in order.
    private let queue: DispatchQueue
    private let logger: Logger
    /// The runs this connection started (a `cancel` finds them; closing stops them).
    private let runs = ConnectionRuns()
    private var state = State.awaitingPeer
    private var context: ChannelHandlerContext?
    private var writer: ResponseWriter?
    private var waitingLines = 0
    private var unanswered = 0
    /// When the client last sent bytes, or its last request was answered.
    private var lastHeard = NIODeadline.now()
    private var idleCheck: Scheduled<Void>?

    init(service: Service, access: PeerAccess, table: ConnectionTable, limits: ConnectionLimits, pool: DispatchQueue, logger: Logger) {
        self.service = service
        self.access = access
        self.table = table
        self.limits = limits
        self.logger = logger
        queue = DispatchQueue(label: "heapd.connection", target: pool)
    }

    /// This handler, for closures that run elsewhere and come back to the loop.
    private var bound: NIOLoopBound<ConnectionHandler> { NIOLoopBound(self, eventLoop: context!.eventLoop) }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        // The writer's callbacks hold this handler: let the cycle go.
        writer = nil
        self.context = nil
    }

    // MARK: Admission

    func channelActive(context: ChannelHandlerContext) {
        context.fireChannelActive()
        guard let provider = context.channel as? any SocketOptionProvider else { return refuse(forbidden) }
        let credentials: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        let bound = bound
        credentials.whenComplete { result in bound.value.learnt(try? result.get()) }
    }

    private func learnt(_ peer: PeerCredentials?) {
        guard let context else { return }
        guard let peer else { return refuse(forbidden) }
        if access.isOwner(uid: peer.uid) { return decide(.owner, uid: peer.uid) }
        guard let provider = context.channel as? any SocketOptionProvider else { return refuse(forbidden) }
        let groups: EventLoopFuture<PeerGroups> = provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERGROUPS))
        let access = access, bound = bound
        groups.whenComplete { result in
            bound.value.decide(access.level(of: PeerIdentity(credentials: peer, groups: try? result.get())), uid: peer.uid)
        }
    }

    private func decide(_ level: PeerAccess.Level, uid: uid_t) {
        guard case .awaitingPeer = state, let context else { return }     // closed meanwhile
        guard level != .refused else { return refuse(forbidden) }
        switch table.admit(context.channel, uid: uid) {
        case .stopping:
            return refuse(.error(nil, .shuttingDown, "heapd is stopping; connect again once heapd is back"))
        case .overTotal:
            return refuse(.error(nil, .tooManyConnections, "heapd serves \(limits.maxConnections) connections at most (max_connections); try again later"))
        case .overUser:
            return refuse(.error(nil, .tooManyConnections, "this user has \(limits.maxConnectionsPerUser) connections to heapd already (max_connections_per_user); close one first"))
        case .admitted:
            break
        }
        // Only an owner or a member gets here: no path makes a caller by default.
        state = .serving(Caller(uid: uid, isOwner: level == .owner))
        let bound = bound, runs = runs, logger = logger, highWater = limits.outputHighWaterBytes, loop = context.eventLoop
        writer = ResponseWriter(channel: context.channel, highWater: highWater, answered: { bound.value.answered(written: $0) }, overflowed: {
            runs.cancelAll()
            logger.notice("a client stopped reading a streamed run past \(highWater) bytes: its runs are cancelled and it is disconnected")
            loop.execute { bound.value.close() }
        })
        lastHeard = .now()
        scheduleIdleCheck(in: idleTimeout)
        readIfAllowed()
    }

    private var forbidden: Response {
        .error(nil, .forbidden, "this user may not use heapd (ask for the daemon's --allow-group)")
    }

    /// Sends `response` if the socket takes it now, and closes the connection at once.
    private func refuse(_ response: Response) {
        guard let context else { return }
        if var json = try? JSONEncoder().encode(response) {
            json.append(UInt8(ascii: "\n"))
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: json)), promise: nil)
        }
        close()
    }

    private func close() {
        guard let context else { return }
        idleCheck?.cancel()
        context.close(promise: nil)
    }

    // MARK: Requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A finishing connection still answers the lines read before it began to finish.
        let caller: Caller
        switch state {
        case .serving(let serving), .finishing(let serving): caller = serving
        case .awaitingPeer, .closed: return
        }
        guard let writer else { return }
        let line = unwrapInboundIn(data)
        waitingLines += 1
        unanswered += 1
        let service = service, runs = runs, bound = bound, loop = context.eventLoop
        let reply: @Sendable (Response) -> Void = { writer.send($0) }
        queue.async {
            switch line {
            case .text(let text): service.handle(line: text, cancellations: runs, caller: caller, reply: reply)
            case .tooLong: service.refuseOversizedLine(reply: reply)
            }
            loop.execute { bound.value.lineTaken() }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        lastHeard = .now()
        readIfAllowed()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        readIfAllowed()
        context.fireChannelWritabilityChanged()
    }

    private func lineTaken() {
        waitingLines -= 1
        readIfAllowed()
    }

    /// A final response is on its way to the socket (`written` completes when it is there).
    private func answered(written: EventLoopFuture<Void>) {
        unanswered -= 1
        guard unanswered == 0 else { return }
        lastHeard = .now()
        if case .finishing = state {
            let bound = bound
            written.whenComplete { _ in bound.value.close() }
        }
    }

    private func readIfAllowed() {
        guard case .serving = state, let context, waitingLines < ConnectionHandler.maximumWaitingLines, context.channel.isWritable else { return }
        context.read()
    }

    // MARK: Idleness

    private var idleTimeout: TimeAmount { .seconds(Int64(limits.idleTimeoutSeconds)) }

    private func scheduleIdleCheck(in delay: TimeAmount) {
        guard limits.idleTimeoutSeconds > 0, let context else { return }
        let bound = bound
        idleCheck = context.eventLoop.scheduleTask(in: delay) { bound.value.checkIdle() }
    }

    private func checkIdle() {
        guard case .serving = state else { return }
        if unanswered > 0 { return scheduleIdleCheck(in: idleTimeout) }
        let quiet = NIODeadline.now() - lastHeard
        if quiet < idleTimeout { return scheduleIdleCheck(in: idleTimeout - quiet) }
        refuse(.error(nil, .idleTimeout, "closed after \(limits.idleTimeoutSeconds) s without a request (idle_timeout_seconds)"))
    }

    // MARK: Closing

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is Finish:
            finish()
        case ChannelEvent.inputClosed:
            // The client shut its sending side (shutdown(SHUT_WR), `nc -N`): it sends nothing
            // more and reads its answers. The lines before the end have been read (the decoder
            // passes them on first); once they are answered, the connection closes.
            finish()
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    /// Reads nothing more, answers what was read, then closes.
    private func finish() {
        guard case .serving(let caller) = state else { return }
        state = .finishing(caller)
        idleCheck?.cancel()
        if unanswered == 0 { close() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .serving(let caller), .finishing(let caller): table.release(context.channel, uid: caller.uid)
        case .awaitingPeer, .closed: break
        }
        state = .closed
        idleCheck?.cancel()
        // Closes the set too: a run that the queue admits after this is cancelled as it is added.
        runs.cancelAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
