// The Debian package: Tests/Packaging/package-test.sh builds it, lints it and proves it under a
// real systemd (../shared/systemd-sandbox); plus checks that the man pages and the unit keep up
// with the sources.
import Foundation
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

    /// Every config key the loader accepts is documented in socketserverd.conf(5), every signal the
    /// master handles in socketserverd(8).
    func testManPagesDocumentEveryKeyAndSignal() throws {
        let conf5 = try Self.read("debian/man/socketserverd.conf.5")
        let page8 = try Self.read("debian/man/socketserverd.8")
        let keys = try Self.configKeys()
        XCTAssertTrue(keys.isSuperset(of: ["listen", "handler", "user", "graceful_timeout", "include"]),
                      "could not find the key lists in Sources: \(keys.sorted())")
        for key in keys.sorted() {
            XCTAssertTrue(conf5.contains("\"\(key) = "), "socketserverd.conf(5) does not document the key '\(key)'")
        }

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
        let config = try Self.read("Sources/SocketServerDaemon/Config/DaemonConfig.swift")
        let graceful = try XCTUnwrap(Self.firstMatch(#"gracefulTimeout: Duration = \.seconds\((\d+)\)"#, in: config).flatMap { Int($0) })
        let stop = try XCTUnwrap(Self.firstMatch(#"(?m)^TimeoutStopSec=(\d+)$"#, in: unit).flatMap { Int($0) })
        XCTAssertGreaterThan(stop, graceful, "TimeoutStopSec= must stay above the default graceful_timeout")
        for line in ["Type=notify", "ExecStartPre=/usr/sbin/socketserverd --check-config",
                     "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed", "Restart=on-failure",
                     "RuntimeDirectory=socketserverd", "User=socketserverd"] {
            XCTAssertTrue(unit.contains("\n" + line), "the unit lacks \(line)")
        }
    }

    // MARK: - Helpers

    /// The keys of [daemon], [service], [plugin] and the built-in handlers, from the sources.
    static func configKeys() throws -> Set<String> {
        var keys: Set<String> = []
        let list = try NSRegularExpression(pattern: #"static let (?:keys|commonKeys)[^=\n]*=\s*\[([^\]]*)\]"#)
        let quoted = try NSRegularExpression(pattern: #""([a-z_]+)""#)
        for folder in ["Sources/SocketServerDaemon", "Sources/SocketServerHandlers"] {
            let base = root.appendingPathComponent(folder)
            guard let files = FileManager.default.enumerator(atPath: base.path) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                let text = try String(contentsOf: base.appendingPathComponent(file), encoding: .utf8)
                let whole = NSRange(text.startIndex..., in: text)
                for match in list.matches(in: text, range: whole) {
                    let body = String(text[Range(match.range(at: 1), in: text)!])
                    for key in quoted.matches(in: body, range: NSRange(body.startIndex..., in: body)) {
                        keys.insert(String(body[Range(key.range(at: 1), in: body)!]))
                    }
                }
            }
        }
        return keys
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
