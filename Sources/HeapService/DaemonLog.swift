// DaemonLog: where heapd's log lines go and how they look. Everything goes to stderr, in one of two
// forms:
//
//   stderr is                         a line                                   why
//   the journal (JOURNAL_STREAM is    <6>listening on /run/heapd/heapd.sock    journald reads the <N> prefix as
//   stderr's device:inode)                                                     the syslog priority and stamps the
//                                                                              time itself
//   anything else (a terminal, a      2026-05-04T10:21:20+0000 info heapd:     swift-log's StreamLogHandler: a
//   file, a pipe)                     [HeapService] listening on ...           person reading it wants the time
//
// JOURNAL_STREAM is trusted only when it names the stream that fd 2 is (systemd.exec(5)): a
// variable inherited by a process whose stderr was redirected elsewhere must not put prefixes
// into a file. The priorities are syslog's (sd-daemon(3)):
//
//   swift-log   trace  debug  info  notice  warning  error  critical
//   <N>         7      7      6     5       4        3      2
//
// `fail(_:)` is for the messages heapd prints before it exits (a configuration error): `heapd:
// message`, and `<3>` first under journald.

import Foundation
import Logging
#if canImport(Glibc)
import Glibc
#endif

public enum DaemonLog {
    /// Whether fd `descriptor` is the journal stream `environment`'s JOURNAL_STREAM names.
    public static func isJournalStream(_ descriptor: Int32 = 2, environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    /// Installs heapd's log handler: JournalLogHandler under journald, StreamLogHandler on stderr
    /// otherwise, both at `level`.
    public static func bootstrap(level: Logger.Level = .info) {
        let journal = isJournalStream()
        LoggingSystem.bootstrap { label in
            if journal {
                var handler = JournalLogHandler()
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }

    /// Prints `heapd: message` on stderr, as an error (`<3>`) under journald.
    public static func fail(_ message: String) {
        writeStandardError((isJournalStream() ? "<3>" : "") + "heapd: \(message)\n")
    }

    /// The syslog priority of `level` (the table at the top of this file).
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// One line as journald is sent it: the priority prefix, the message, then the metadata as
    /// `key=value`, sorted; newlines inside it become spaces (journald would cut the line there,
    /// and the rest would go out at the default priority).
    public static func journalLine(level: Logger.Level, message: String, metadata: Logger.Metadata) -> String {
        var line = message
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) { line += " \(key)=\(value)" }
        return "<\(priority(level))>" + line.replacingOccurrences(of: "\n", with: " ") + "\n"
    }

    /// Writes `text` to fd 2 with as few write(2)s as it takes (one for a line under PIPE_BUF):
    /// lines from several threads do not interleave.
    static func writeStandardError(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }
}

/// swift-log's handler for stderr as a journal stream: `<N>message key=value`, no timestamp and no
/// label (journald records the time, the unit and the pid itself).
public struct JournalLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info

    public init() {}

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        DaemonLog.writeStandardError(DaemonLog.journalLine(level: event.level, message: event.message.description, metadata: merged))
    }
}
