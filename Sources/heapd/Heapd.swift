// heapd: the daemon. Serves the protocol of docs/protocol.md on a Unix socket until SIGTERM,
// SIGINT or a `shutdown` request.
//
//   signals   SIGTERM, SIGINT: stop (drain: no new runs, the running ones cancelled and
//             journalled, exit 0); SIGHUP: ignored and logged (settings are read only at start:
//             restart heapd to change them; a heapd started from a terminal outlives it);
//             SIGXFSZ: ignored (a journal write past the file-size limit fails instead)
//   malloc    glibc's mmap and trim thresholds fixed at 128 KiB (unless MALLOC_MMAP_THRESHOLD_
//             or MALLOC_TRIM_THRESHOLD_ is set): with its growing defaults a long-running heapd
//             kept ~75 MiB that its runs had freed (BENCHMARKS.md, "Soak")
//   socket    the one systemd passed (fd 3), or PATH bound here: mode 0660, group allow_group;
//             without --socket and XDG_RUNTIME_DIR a user's heapd binds
//             /tmp/heapd-UID/heapd.sock, in a directory only that user may enter
//   logs      stderr: under journald `<N>` priorities and no timestamp, else swift-log's lines
//             (DaemonLog)
//   exit      0 stopped; 1 it could not serve (the socket, the journal, the metrics port);
//             64 a command-line error (ArgumentParser's EX_USAGE); 78 (EX_CONFIG) a configuration
//             error: a bad file, variable or flag value, an unknown allow_group, metrics_listen
//             where Internet sockets are forbidden. heapd.service names 64 and 78 in
//             RestartPreventExitStatus=: restarting cannot fix them.

import ArgumentParser
import CHeapShim
import Dispatch
import Foundation
import HeapCore
import HeapService
import Logging
#if canImport(Glibc)
import Glibc
#endif

@main
struct Heapd: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "heapd", abstract: "The heapd daemon: runs workloads sent over a Unix socket.",
                                                    version: protocolVersion)

    /// The exit status of a configuration error (sysexits' EX_CONFIG), which heapd.service's
    /// RestartPreventExitStatus= names.
    static let configurationError = ExitCode(78)

    @Option(help: "The configuration file (default: /etc/heapd/heapd.toml when it exists). Settings: docs/protocol.md; HEAPD_* variables override the file, flags override both.")
    var config: String?

    @Option(help: "The socket path (default: $XDG_RUNTIME_DIR/heapd.sock, /run/heapd/heapd.sock as root, else /tmp/heapd-UID/heapd.sock in a private directory).")
    var socket: String?

    @Option(help: "Runs executing at once (default 2).")
    var workers: Int?

    @Option(help: "Where library workloads are found by name (default: ./workloads).")
    var workloads: String?

    @Option(help: "A group whose members may connect too (by default only this user and root).")
    var allowGroup: String?

    @Option(help: "The state directory, for the results journal (default: $STATE_DIRECTORY under systemd, /var/lib/heapd as root, else $XDG_STATE_HOME/heapd or ~/.local/state/heapd).")
    var stateDirectory: String?

    @Option(help: "Also serve the metrics over HTTP at ADDRESS:PORT (GET /metrics), an IP address: 127.0.0.1:9464 or [::1]:9464 (setting metrics_listen).")
    var metricsListen: String?

    /// Defaults < file < environment < flags, and the service's configuration from them.
    func settings() throws -> (Settings, ServiceConfiguration) {
        do throws(Settings.Problem) {
            var file = Settings()
            let path = config ?? (FileManager.default.fileExists(atPath: "/etc/heapd/heapd.toml") ? "/etc/heapd/heapd.toml" : nil)
            if let path {
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw Settings.Problem(source: path, message: "cannot read the configuration file")
                }
                file = try Settings.parse(file: text, name: path)
            }
            // Checked as the file's values are (`--workers 0` is refused).
            let flags = try Settings.parse(flags: ["socket": socket, "workers": workers.map(String.init), "workloads": workloads,
                                                   "allow_group": allowGroup, "state_directory": stateDirectory,
                                                   "metrics_listen": metricsListen].compactMapValues { $0 })
            let settings = file.overridden(by: try Settings.parse(environment: ProcessInfo.processInfo.environment)).overridden(by: flags)
            return (settings, try ServiceConfiguration(settings: settings))
        } catch {
            DaemonLog.fail("\(error)")
            throw Heapd.configurationError
        }
    }

    func run() throws {
        let (settings, configured) = try settings()
        let path = settings.socket ?? Client.defaultSocketPath()
        let allowGroup = settings.allowGroup
        let stateDirectory = settings.stateDirectory ?? Heapd.defaultStateDirectory()
        let stop = DispatchSemaphore(value: 0)
        DaemonLog.bootstrap()
        let logger = Logger(label: "heapd")
        // A file-size limit (RLIMIT_FSIZE) makes a journal write fail with EFBIG, which is
        // reported to the client, instead of killing heapd with SIGXFSZ.
        signal(SIGXFSZ, SIG_IGN)
        let environment = ProcessInfo.processInfo.environment
        if environment["MALLOC_MMAP_THRESHOLD_"] == nil && environment["MALLOC_TRIM_THRESHOLD_"] == nil {
            _ = heapd_fix_malloc_thresholds(128 * 1024)
        }
        var journalLimits = JournalLimits()
        if let maxBytes = settings.journalMaxBytes { journalLimits.maxBytes = maxBytes }
        if let segments = settings.journalSegments { journalLimits.segments = segments }
        let journal: Journal
        do {
            journal = try Journal(directory: stateDirectory, limits: journalLimits, logger: logger)
        } catch {
            DaemonLog.fail("\(error)")
            throw ExitCode(1)
        }
        if journal.interruptedAtStart > 0 {
            logger.warning("\(journal.interruptedAtStart) run(s) cut short by the last stop recorded as interrupted")
        }
        let activated = Systemd.takeListeningSocket()
        // As `config` shows it: the limits in force, where heapd serves and keeps its state.
        var configuration = configured
        configuration.connections = Server.fitToDescriptorLimit(configured.connections, logger: logger)
        configuration.socketPath = activated == nil ? path : "(systemd socket)"
        configuration.stateDirectory = stateDirectory
        configuration.allowGroup = allowGroup
        let service = Service(configuration: configuration, journal: journal, logger: logger, onShutdown: { stop.signal() })
        // Before the socket exists: a SIGTERM that comes as soon as clients can connect is not lost.
        signal(SIGTERM, SIG_IGN)
        signal(SIGINT, SIG_IGN)
        let terminate = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        terminate.setEventHandler { @Sendable in stop.signal() }
        terminate.resume()
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        interrupt.setEventHandler { @Sendable in stop.signal() }
        interrupt.resume()
        // A hangup would kill heapd by default (a terminal closing); settings are read only at
        // start, so there is nothing to reload.
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler { @Sendable in
            logger.notice("SIGHUP ignored: heapd reads its settings only at start; restart it to apply new ones")
        }
        hangup.resume()
        let server: Server
        do {
            var access = PeerAccess()
            if let allowGroup {
                guard let group = getgrnam(allowGroup) else {
                    DaemonLog.fail("allow_group: no group named \(allowGroup)")
                    throw Heapd.configurationError
                }
                access.allowedGroup = group.pointee.gr_gid
            }
            let privateDirectory = Client.privateSocketDirectory(uid: getuid())
            if activated == nil && settings.socket == nil && path == privateDirectory + "/heapd.sock" {
                try SocketFile.makePrivateDirectory(privateDirectory)
            }
            server = try Server(service: service, socketPath: configuration.socketPath ?? path, adopting: activated, access: access,
                                logger: logger)
        } catch let error as ServerError {
            DaemonLog.fail("\(error)")
            throw ExitCode(1)
        } catch let error as SocketFileError {
            DaemonLog.fail("\(error)")
            throw ExitCode(1)
        }
        logger.info("listening on \(server.socketPath)")
        var metricsServer: MetricsServer?
        // Settings checked the address (MetricsServer.address(parsing:)).
        if let listen = settings.metricsListen, let address = MetricsServer.address(parsing: listen) {
            do {
                let metrics = try MetricsServer(service: service, address: address)
                metricsServer = metrics
                logger.info("metrics on http://\(listen.hasSuffix(":0") ? String(listen.dropLast(2)) + ":\(metrics.port)" : listen)/metrics")
            } catch {
                DaemonLog.fail("\(error)")
                server.shutdown()
                if case .internetSocketsForbidden = error { throw Heapd.configurationError }
                throw ExitCode(1)
            }
        }
        Systemd.notify("READY=1\nSTATUS=\(Heapd.status(service))")
        // The watchdog ping doubles as the status refresh; without a watchdog, every 5 s. It
        // beats on the server's event loop: a stalled loop stops the pings and systemd restarts
        // heapd.
        let interval = max(Systemd.watchdogInterval() ?? .seconds(5), .milliseconds(10))
        let watchdog = Systemd.watchdogInterval() != nil
        server.startHeartbeat(every: interval) {
            Systemd.notify((watchdog ? "WATCHDOG=1\n" : "") + "STATUS=\(Heapd.status(service))")
        }
        stop.wait()
        Systemd.notify("STOPPING=1")
        // Stop taking requests, let the runs in flight end (cancelled) and record them.
        server.close()
        if !service.stopRuns(grace: .seconds(10)) {
            logger.warning("runs still going after 10 s; they will be recorded as interrupted")
        }
        // Each connection answers the lines it has read (shutting_down for runs), then closes.
        server.shutdown()
        metricsServer?.shutdown()
        logger.info("stopped")
    }

    /// The STATUS= line: runs, requests and the memory the heaps have mapped.
    static func status(_ service: Service) -> String {
        let stats = service.statistics
        return "\(stats.runsRunning) running, \(stats.runsFinished) finished, \(stats.runsFailed) failed, \(stats.requests) requests, heaps \(service.heapBytesInUse >> 20) MiB"
    }

    static func defaultStateDirectory() -> String {
        let environment = ProcessInfo.processInfo.environment
        if let state = environment["STATE_DIRECTORY"], !state.isEmpty { return state.split(separator: ":").first.map(String.init) ?? state }
        if getuid() == 0 { return "/var/lib/heapd" }
        if let state = environment["XDG_STATE_HOME"], !state.isEmpty { return state + "/heapd" }
        return NSHomeDirectory() + "/.local/state/heapd"
    }
}
