// scripts/install into a temporary root (DESTDIR), with the binaries this test bundle was built
// beside (HEAPD_BIN): the tree it makes, the units it installs against systemd-analyze, the
// example settings against heapd's parser, the completions, a changed heapd.toml kept across a
// reinstall and an uninstall, and an uninstall that leaves nothing else.

import Foundation
@testable import HeapService
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs scripts/install with `arguments` into `root`, PREFIX `prefix` when given.
private func install(_ arguments: [String] = [], root: String, prefix: String? = nil) throws -> Finished {
    var environment = ["DESTDIR": root, "HEAPD_BIN": Daemon.binary.deletingLastPathComponent().path]
    if let prefix { environment["PREFIX"] = prefix }
    return try runToEnd(Tool.bash ?? "/bin/bash", [repositoryRoot.appendingPathComponent("scripts/install").path] + arguments,
                        environment: environment)
}

/// Every file under `root`, relative to it, sorted.
private func files(under root: String) -> [String] {
    let enumerator = FileManager.default.enumerator(atPath: root)
    var found: [String] = []
    while let path = enumerator?.nextObject() as? String {
        var directory: ObjCBool = false
        if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &directory), !directory.boolValue { found.append(path) }
    }
    return found.sorted()
}

private func mode(_ path: String) -> mode_t {
    var info = stat()
    stat(path, &info)
    return info.st_mode & 0o7777
}

@Suite struct InstallScriptTests {
    static let expected = [
        "etc/heapd/heapd.toml",
        "usr/local/bin/heapctl", "usr/local/bin/heapd",
        "usr/local/lib/systemd/system/heapd.service", "usr/local/lib/systemd/system/heapd.socket",
        "usr/local/lib/sysusers.d/heapd.conf",
        "usr/local/share/bash-completion/completions/heapctl", "usr/local/share/bash-completion/completions/heapd",
        "usr/local/share/doc/heapd/README.md", "usr/local/share/doc/heapd/architecture.md",
        "usr/local/share/doc/heapd/concurrent-collection.md", "usr/local/share/doc/heapd/examples/heapd-metrics.conf",
        "usr/local/share/doc/heapd/examples/heapd.toml", "usr/local/share/doc/heapd/language.md",
        "usr/local/share/doc/heapd/memory-diagnostics.md",
        "usr/local/share/doc/heapd/protocol.md", "usr/local/share/doc/heapd/service.md", "usr/local/share/doc/heapd/striping.md",
        "usr/local/share/zsh/site-functions/_heapctl", "usr/local/share/zsh/site-functions/_heapd",
    ]

    @Test func installMakesTheTreeTheUnitsAndTheDocsPromise() throws {
        let root = try scratchDirectory("install")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let installed = try install(root: root)
        #expect(installed.status == 0, "\(installed.output)\(installed.errors)")
        let tree = files(under: root)
        let workloads = tree.filter { $0.hasPrefix("usr/local/share/heapd/workloads/") }
        #expect(tree.filter { !$0.hasPrefix("usr/local/share/heapd/workloads/") } == InstallScriptTests.expected)
        // The library: every .hw file of workloads/, and nothing else.
        let library = files(under: repositoryRoot.appendingPathComponent("workloads").path).filter { $0.hasSuffix(".hw") }
        #expect(workloads == library.map { "usr/local/share/heapd/workloads/" + $0 })
        #expect(workloads.contains("usr/local/share/heapd/workloads/binary-trees.hw"))

        #expect(mode(root + "/usr/local/bin/heapd") == 0o755 && mode(root + "/usr/local/bin/heapctl") == 0o755)
        for path in tree where !path.hasPrefix("usr/local/bin/") { #expect(mode(root + "/" + path) == 0o644, "\(path)") }

        // The unit runs the installed heapd with the installed settings, documented by installed files.
        let service = try String(contentsOfFile: root + "/usr/local/lib/systemd/system/heapd.service", encoding: .utf8)
        #expect(unitValues("ExecStart", in: service) == ["/usr/local/bin/heapd --config /etc/heapd/heapd.toml"])
        #expect(unitValues("Also", in: service) == ["heapd.socket"])
        let documentation = unitValues("Documentation", in: service).flatMap { $0.split(separator: " ") }.filter { $0.hasPrefix("file://") }
        #expect(!documentation.isEmpty)
        for url in documentation { #expect(FileManager.default.fileExists(atPath: root + url.dropFirst("file://".count)), "\(url)") }
        let sysusers = try String(contentsOfFile: root + "/usr/local/lib/sysusers.d/heapd.conf", encoding: .utf8)
        #expect(sysusers.split(separator: "\n").contains { $0.hasPrefix("u heapd - ") })

        // The example settings are heapd's: they parse, and so does every commented-out line.
        let example = try String(contentsOfFile: root + "/etc/heapd/heapd.toml", encoding: .utf8)
        let settings = try Settings.parse(file: example, name: "heapd.toml")
        #expect(settings.workloads == "/usr/local/share/heapd/workloads" && settings.allowGroup == "heapd")
        let commented = example.split(separator: "\n").filter { $0.range(of: #"^# [a-z_]+ = "#, options: .regularExpression) != nil }.map { $0.dropFirst(2) }
        #expect(commented.count >= 10)
        for line in commented { #expect(throws: Never.self, "\(line)") { try Settings.parse(file: String(line), name: "example") } }
        let check = try runToEnd(root + "/usr/local/bin/heapd", ["--config", root + "/etc/heapd/heapd.toml", "--version"])
        #expect(check.status == 0)

        // Completions, from swift-argument-parser, for both commands.
        let bash = try String(contentsOfFile: root + "/usr/local/share/bash-completion/completions/heapctl", encoding: .utf8)
        #expect(bash.contains("complete -") && bash.contains("heapctl") && bash.contains("workloads") && bash.contains("--timeout"))
        let zsh = try String(contentsOfFile: root + "/usr/local/share/zsh/site-functions/_heapctl", encoding: .utf8)
        #expect(zsh.hasPrefix("#compdef heapctl") && zsh.contains("shell"))
        let zshDaemon = try String(contentsOfFile: root + "/usr/local/share/zsh/site-functions/_heapd", encoding: .utf8)
        #expect(zshDaemon.hasPrefix("#compdef heapd") && zshDaemon.contains("--metrics-listen"))
    }

    @Test(.enabled(if: SystemdUnitTests.hasSystemdAnalyze, Tool.missing("systemd-analyze", package: "systemd")))
    func theInstalledUnitsVerifyAndKeepTheirExposure() throws {
        let root = try scratchDirectory("install-units")
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try install(root: root).status == 0)
        // The units as installed, their ExecStart pointed at the installed binary inside the root.
        let units = try scratchDirectory("installed-units")
        defer { try? FileManager.default.removeItem(atPath: units) }
        let system = root + "/usr/local/lib/systemd/system"
        try String(contentsOfFile: system + "/heapd.service", encoding: .utf8)
            .replacingOccurrences(of: "ExecStart=/usr/local/bin/heapd", with: "ExecStart=" + root + "/usr/local/bin/heapd")
            .write(toFile: units + "/heapd.service", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: system + "/heapd.socket", toPath: units + "/heapd.socket")
        try FileManager.default.createDirectory(atPath: units + "/heapd.service.d", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: root + "/usr/local/share/doc/heapd/examples/heapd-metrics.conf", toPath: units + "/heapd.service.d/metrics.conf")
        let verify = try runToEnd(Tool.systemdAnalyze!, ["verify", units + "/heapd.socket", units + "/heapd.service"])
        #expect(verify.status == 0 && (verify.output + verify.errors).isEmpty, "\(verify.output)\(verify.errors)")
        let (level, report) = try exposure(ofServiceIn: units)
        #expect(try #require(level, "\(report)") <= 2.5, "\(report)")
    }

    @Test func aPrefixMovesEveryPathButTheSettings() throws {
        let root = try scratchDirectory("install-prefix")
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try install(root: root, prefix: "/opt/heapd").status == 0)
        let tree = files(under: root)
        #expect(tree.contains("opt/heapd/bin/heapd") && tree.contains("opt/heapd/lib/systemd/system/heapd.service") && tree.contains("etc/heapd/heapd.toml"))
        #expect(!tree.contains { $0.hasPrefix("usr/") })
        let service = try String(contentsOfFile: root + "/opt/heapd/lib/systemd/system/heapd.service", encoding: .utf8)
        #expect(!service.contains("/usr/local"))
        #expect(unitValues("ExecStart", in: service) == ["/opt/heapd/bin/heapd --config /etc/heapd/heapd.toml"])
        let example = try String(contentsOfFile: root + "/etc/heapd/heapd.toml", encoding: .utf8)
        #expect(try Settings.parse(file: example, name: "heapd.toml").workloads == "/opt/heapd/share/heapd/workloads")
    }

    @Test func changedSettingsOutliveAReinstallAndAnUninstall() throws {
        let root = try scratchDirectory("install-again")
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try install(root: root).status == 0)
        // Unchanged settings go with the rest.
        let removed = try install(["--uninstall"], root: root)
        #expect(removed.status == 0, "\(removed.errors)")
        #expect(files(under: root).isEmpty, "\(files(under: root))")

        #expect(try install(root: root).status == 0)
        let settings = root + "/etc/heapd/heapd.toml"
        try "workers = 8\n".write(toFile: settings, atomically: true, encoding: .utf8)
        let again = try install(root: root)
        #expect(again.status == 0)
        #expect(again.output.contains("kept the existing"))
        #expect(try String(contentsOfFile: settings, encoding: .utf8) == "workers = 8\n")
        let uninstalled = try install(["--uninstall"], root: root)
        #expect(uninstalled.status == 0)
        #expect(uninstalled.output.contains("kept \(settings)"))
        #expect(files(under: root) == ["etc/heapd/heapd.toml"])
    }

    @Test func aWrongArgumentIsRefused() throws {
        let root = try scratchDirectory("install-wrong")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let wrong = try install(["--frobnicate"], root: root)
        #expect(wrong.status == 2)
        #expect(wrong.errors.contains("unknown argument --frobnicate"))
        #expect(files(under: root).isEmpty)
    }
}
