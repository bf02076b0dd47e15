// The watchdog's pings come from the event loop, in process: with the heartbeat sending WATCHDOG=1
// to a datagram socket that stands for systemd's NOTIFY_SOCKET (as heapd's does), pings arrive;
// while a task blocks the loop none do — so systemd, whose watchdog then expires, restarts a heapd
// whose loop has stalled — and once the loop runs again they come back.

import Dispatch
import Foundation
@testable import HeapService
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket bound at a path of its own, read by the test: systemd's NOTIFY_SOCKET.
final class NotifySocket {
    let path = NSTemporaryDirectory() + "heapd-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
    let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)

    init() throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0)
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// The next datagram, waiting for it (up to a minute) or not; nil when there is none.
    func receive(waiting: Bool) -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, waiting ? 0 : Int32(MSG_DONTWAIT))
        return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : nil
    }

    /// The datagrams waiting now.
    func drain() -> [String] {
        var datagrams: [String] = []
        while let datagram = receive(waiting: false) { datagrams.append(datagram) }
        return datagrams
    }
}

@Suite struct ServerHeartbeatTests {
    @Test func aStalledEventLoopStopsTheWatchdogPings() throws {
        let notify = try NotifySocket()
        let socketPath = NSTemporaryDirectory() + "heapd-heartbeat-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
        let server = try Server(service: Service(), socketPath: socketPath)
        defer { server.shutdown() }
        let target = notify.path
        server.startHeartbeat(every: .milliseconds(20)) { Systemd.notify("WATCHDOG=1", socket: target) }
        #expect(notify.receive(waiting: true) == "WATCHDOG=1")
        // A task that holds the loop, as anything slow run on it would.
        let stalled = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        server.channel.eventLoop.execute {
            stalled.signal()
            release.wait()
        }
        stalled.wait()
        // Beats that ran before the stall have sent theirs already; none can run during it.
        _ = notify.drain()
        usleep(300_000)                                         // fifteen intervals
        let duringTheStall = notify.drain()
        release.signal()
        #expect(duringTheStall.isEmpty, "\(duringTheStall.count) pings while the loop was stalled")
        #expect(notify.receive(waiting: true) == "WATCHDOG=1")
    }
}
