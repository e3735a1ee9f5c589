// The Debian package: Tests/Packaging/package-test.sh builds it, lints it and proves it under a
// real systemd (../shared/systemd-sandbox); plus checks that the man pages and the unit keep up
// with the sources.
import Foundation
import SocketServerTestSupport
import XCTest

final class DebianPackageTests: XCTestCase {
    /// The checkout's root (the directory holding Package.swift).
    static let root: URL = {
        var dir = URL(fileURLWithPath: #filePath)
        while dir.lastPathComponent != "Tests" { dir.deleteLastPathComponent() }
        return dir.deletingLastPathComponent()
    }()

    static func read(_ relative: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(relative), encoding: .utf8)
    }

    /// What package-test.sh must report, one line per step.
    static let expectedSteps = [
        "PASS: build: socketserverd_",
        "PASS: package contents:",
        "PASS: lintian (no errors, no warnings)",
        "PASS: upgrade package built:",
        "PASS: sandbox booted",
        "PASS: toolchain hidden:",
        "PASS: installed, enabled, active (running)",
        "PASS: ldd (",
        "PASS: serves the default config",
        "workers run as socketserverd",
        "PASS: reload added service 'extra' on 7020; requests=",
        "PASS: plugin greet.hello serves;",
        "PASS: broken config: reload refused, old config serving, reason (file:line) in the journal",
        "PASS: systemd-analyze security: exposure",
        "PASS: upgrade in place ",
        "PASS: reinstall: restarted",
        "PASS: a failed upgrade in place: 'upgrade failed' reported on stderr, the running binary kept serving",
        "PASS: stop: no process left",
        "PASS: socket activation:",
        "PASS: purge: no package files",
        "package-test: PASS",
    ]

    /// Builds the .deb and runs the administrator's walk-through in the systemd sandbox. Skips only
    /// where the script says the machine cannot boot the sandbox or lacks the build dependencies.
    func testPackageBuildsInstallsAndRunsUnderSystemd() throws {
        let script = Self.root.appendingPathComponent("Tests/Packaging/package-test.sh").path
        let log = NSTemporaryDirectory() + "/socketserverd-package-test-\(getpid()).log"
        defer { try? FileManager.default.removeItem(atPath: log) }

        let started = Date()
        let (status, output) = try Self.run(script, log: log, timeout: 570)
        print(output)
        print("package-test.sh: exit \(status) after \(Int(Date().timeIntervalSince(started))) s")

        if status == 77 {
            let reason = output.split(separator: "\n").last { $0.hasPrefix("SKIP: ") } ?? "SKIP: (no reason given)"
            throw XCTSkip("Debian package test skipped: " + reason.dropFirst("SKIP: ".count))
        }
        XCTAssertEqual(status, 0, "package-test.sh failed: "
            + (output.split(separator: "\n").last { $0.hasPrefix("FAIL: ") }.map(String.init) ?? "see the output above"))
        XCTAssertFalse(output.contains("\nFAIL: "), "a step failed")
        for step in Self.expectedSteps {
            XCTAssertTrue(output.contains(step), "package-test.sh did not report: \(step)")
        }
        XCTAssertTrue(output.contains("requests=") && output.contains(" failures=0"),
                      "the client loop during the reload must see no failed request")
        if let exposure = Self.exposure(in: output) {
            XCTAssertLessThan(exposure, 3.0, "systemd-analyze security exposure")
        } else if status == 0 {
            XCTFail("no 'Overall exposure level' line in the output")
        }
    }

    /// Every config key in the loader's table (as `socketserverd --help-config` prints it) is
    /// documented in socketserverd.conf(5), with the table's default wherever the page states one
    /// as a value; every signal the master handles is in socketserverd(8).
    func testManPagesDocumentEveryKeyAndSignal() throws {
        let conf5 = try Self.read("debian/man/socketserverd.conf.5")
        let page8 = try Self.read("debian/man/socketserverd.8")
        let keys = try Self.listedKeys()
        XCTAssertTrue(Set(keys.map(\.name)).isSuperset(of: ["listen", "handler", "user", "graceful_timeout", "include",
                                                            "directory", "command", "path"]),
                      "--help-config did not list the keys: \(keys.map(\.name))")
        var compared: [String] = []
        for key in keys {
            XCTAssertTrue(conf5.contains("\"\(key.name) = "), "socketserverd.conf(5) does not document the key '\(key.name)'")
            guard let stated = Self.statedDefault(of: key.name, in: conf5) else { continue }
            XCTAssertEqual(stated, key.defaultText, "socketserverd.conf(5) states the default of '\(key.name)' as "
                + "'\(stated)', the key table as '\(key.defaultText ?? "required")'")
            compared.append(key.name)
        }
        XCTAssertTrue(Set(compared).isSuperset(of: ["timeout", "max_requests", "graceful_timeout", "max_size"]),
                      "the defaults compared: \(compared)")

        let arbiter = try Self.read("Sources/SocketServerDaemon/Master/Arbiter.swift")
        let list = try XCTUnwrap(Self.firstMatch(#"SignalPipe\(catching: \[([^\]]*)\]"#, in: arbiter),
                                 "the master's signal list was not found")
        let signals = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.hasPrefix("SIG") && $0 != "SIGCHLD" }
        XCTAssertFalse(signals.isEmpty)
        for signal in signals {
            XCTAssertTrue(page8.contains(signal), "socketserverd(8) does not document \(signal)")
        }
    }

    /// The unit gives the master longer to stop than the default graceful_timeout.
    func testUnitStopTimeoutIsAboveGracefulTimeout() throws {
        let unit = try Self.read("debian/socketserverd.service")
        let graceful = try XCTUnwrap(Self.listedKeys().first { $0.name == "graceful_timeout" }?.defaultText.flatMap { Int($0) })
        let stop = try XCTUnwrap(Self.firstMatch(#"(?m)^TimeoutStopSec=(\d+)$"#, in: unit).flatMap { Int($0) })
        XCTAssertGreaterThan(stop, graceful, "TimeoutStopSec= must stay above the default graceful_timeout")
        for line in ["Type=notify", "ExecStartPre=/usr/sbin/socketserverd --check-config",
                     "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed", "Restart=on-failure",
                     "RuntimeDirectory=socketserverd", "User=socketserverd"] {
            XCTAssertTrue(unit.contains("\n" + line), "the unit lacks \(line)")
        }
    }

    // MARK: - Helpers

    /// One key as `socketserverd --help-config` lists it.
    struct ListedKey {
        let name: String
        /// The default as a value (`30`, `nobody`) or in words (`none`); nil for a required key.
        let defaultText: String?
    }

    /// The key table, as the built binary prints it: each key's line is `  NAME = VALUE`,
    /// `  NAME (default: WORDS)` or `  NAME (required)`, with ` [for …]` after it when the key
    /// applies to some services only.
    static func listedKeys() throws -> [ListedKey] {
        let output = NSTemporaryDirectory() + "/socketserverd-help-config-\(getpid())-\(UUID().uuidString).txt"
        defer { unlink(output) }
        let pid = try spawn(DaemonProcess.binaryPath, ["--help-config"], env: ["PATH=/usr/bin:/bin"], stdout: output, stderr: output)
        let status = exitCode(of: pid)
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        XCTAssertEqual(status, 0, "socketserverd --help-config: \(text)")
        let line = try NSRegularExpression(pattern: #"^  ([a-z_]+)(?: = (.+?)| \(default: (.+)\)| \(required\))(?: \[for [^\]]+\])?$"#)
        var keys: [ListedKey] = []
        for row in text.split(separator: "\n").map(String.init) {
            guard let match = line.firstMatch(in: row, range: NSRange(row.startIndex..., in: row)) else { continue }
            func group(_ index: Int) -> String? { Range(match.range(at: index), in: row).map { String(row[$0]) } }
            keys.append(ListedKey(name: group(1) ?? "", defaultText: group(2) ?? group(3)))
        }
        return keys
    }

    /// The default socketserverd.conf(5) states for `key` as a value: its entry (from
    /// `.BI "KEY = "` to the next paragraph macro) has a line `Default:` followed by a bold or
    /// italic value. nil when the entry states no default, or states it in words.
    static func statedDefault(of key: String, in page: String) -> String? {
        let lines = page.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(where: { $0.hasPrefix(".BI \"\(key) = \"") }) else { return nil }
        var index = start + 1
        while index + 1 < lines.count, ![".TP", ".SH", ".PP", ".RE", ".RS"].contains(where: { lines[index].hasPrefix($0) }) {
            if lines[index] == "Default:" {
                let words = lines[index + 1].split(separator: " ")
                guard words.count >= 2, [".B", ".BR", ".I", ".IR"].contains(words[0]) else { return nil }
                return String(words[1])
            }
            index += 1
        }
        return nil
    }

    static func firstMatch(_ pattern: String, in text: String) -> String? {
        guard let regex = try? NSRegularExpression(pattern: pattern),
              let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
              let range = Range(match.range(at: 1), in: text) else { return nil }
        return String(text[range])
    }

    static func exposure(in output: String) -> Double? {
        firstMatch(#"Overall exposure level for socketserverd\.service: ([0-9.]+)"#, in: output).flatMap(Double.init)
    }

    /// Runs `script` in its own process group with stdout and stderr in `log`; after `timeout`
    /// seconds it gets SIGTERM (its trap stops the sandbox), then the group SIGKILL.
    static func run(_ script: String, log: String, timeout: TimeInterval) throws -> (Int32, String) {
        var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attributes: posix_spawnattr_t = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/bash"), strdup(script), nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, "/bin/bash", &actions, &attributes, argv, environ)
        guard code == 0 else { throw NSError(domain: NSPOSIXErrorDomain, code: Int(code)) }

        var status: Int32 = 0
        let deadline = Date().addingTimeInterval(timeout)
        var terminatedAt: Date? = nil
        while waitpid(pid, &status, WNOHANG) == 0 {
            if terminatedAt == nil, Date() >= deadline {
                kill(pid, SIGTERM)
                terminatedAt = Date()
            } else if let at = terminatedAt, Date().timeIntervalSince(at) > 60 {
                kill(-pid, SIGKILL)
            }
            usleep(200_000)
        }
        // The sandbox's unshare(1) was started in the background; if this process adopts orphans
        // (other tests make it a subreaper), reap it now that the sandbox is stopped.
        var other: Int32 = 0
        while waitpid(-1, &other, WNOHANG) > 0 {}

        var output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        if terminatedAt != nil { output += "\nFAIL: package-test.sh did not finish within \(Int(timeout)) s\n" }
        let exited = status & 0x7f == 0
        return (exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), output)
    }
}
