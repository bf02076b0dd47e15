// Systemd: what heapd needs of systemd, by its documented interfaces (no libsystemd).
//
//   socket activation  LISTEN_PID == our pid and LISTEN_FDS >= 1: the listening socket is fd 3
//                      (sd_listen_fds(3)); the variables are unset once read
//   notification       NOTIFY_SOCKET (a path, or an abstract name after '@'): datagrams of
//                      "READY=1", "STATUS=...", "WATCHDOG=1", "STOPPING=1" (sd_notify(3))
//   watchdog           WATCHDOG_USEC (and WATCHDOG_PID, if set, must be ours): ping at half of it

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum Systemd {
    /// The socket systemd passed us, if any (fd 3), taking it out of the environment.
    public static func takeListeningSocket() -> CInt? {
        let environment = ProcessInfo.processInfo.environment
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let pid = environment["LISTEN_PID"].flatMap(Int32.init), pid == getpid(),
              let count = environment["LISTEN_FDS"].flatMap(Int.init), count >= 1 else { return nil }
        let descriptor: CInt = 3
        _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
        return descriptor
    }

    /// Sends `state` ("READY=1", "STATUS=…") to the service manager (NOTIFY_SOCKET); false
    /// when there is none.
    @discardableResult
    public static func notify(_ state: String) -> Bool {
        guard let path = ProcessInfo.processInfo.environment["NOTIFY_SOCKET"], !path.isEmpty else { return false }
        return notify(state, socket: path)
    }

    /// Sends `state` as one datagram to the notification socket `path`; false when it could not.
    @discardableResult
    public static func notify(_ state: String, socket path: String) -> Bool {
        let descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        var length = 0
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let count = min(bytes.count, raw.count - 1)
            raw.copyBytes(from: bytes.prefix(count))
            if bytes.first == UInt8(ascii: "@") { raw[0] = 0 } else { raw[count] = 0 }   // abstract namespace
            length = count
        }
        let size = socklen_t(MemoryLayout<sa_family_t>.size + length + (bytes.first == UInt8(ascii: "@") ? 0 : 1))
        let message = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { target in
                message.withUnsafeBytes { sendto(descriptor, $0.baseAddress, $0.count, 0, target, size) }
            }
        }
        return sent == message.count
    }

    /// Half of the watchdog interval systemd asks for, if it asks us.
    public static func watchdogInterval() -> Duration? {
        let environment = ProcessInfo.processInfo.environment
        guard let microseconds = environment["WATCHDOG_USEC"].flatMap(Int64.init), microseconds > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"].flatMap(Int32.init), pid != getpid() { return nil }
        return .microseconds(microseconds / 2)
    }
}
