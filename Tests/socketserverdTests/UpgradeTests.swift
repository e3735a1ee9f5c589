// SIGUSR2: the binary at the master's path replaces the running one with the same pid and no failed
// request; a missing, non-executable or failing new binary leaves the old one serving.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class UpgradeTests: DaemonTestCase {
    var binary: String { directory + "/bin/socketserverd" }

    /// Installs a copy of the built binary as `binary` (a new inode each time, as dpkg's rename does).
    @discardableResult
    func installBinary() throws -> UInt64 {
        let staged = binary + ".new"
        try? FileManager.default.removeItem(atPath: staged)
        try FileManager.default.copyItem(atPath: DaemonProcess.binaryPath, toPath: staged)
        chmod(staged, 0o755)
        guard rename(staged, binary) == 0 else { throw TestFailure.setup("rename: \(errno)") }
        return inode(binary)
    }

    func inode(_ path: String) -> UInt64 {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_ino) : 0
    }

    /// An echo service started from the installed copy of the binary (`binary`), which the tests
    /// replace or break before an upgrade.
    func startUpgradableDaemon(daemon keys: ConfigKeys = [:]) throws -> DaemonProcess {
        _ = makeDirectory("bin", mode: 0o755)
        try installBinary()
        let config = DaemonConfigBuilder(daemon: ["graceful_timeout": 5], services: [Service("echo", ["workers": 2, "concurrency": "threads"])])
        return try startDaemon(keys.reduce(config) { $0.adding(daemon: $1.key, $1.value) }, binary: binary)
    }

    func testUpgradeUnderLoadKeepsThePidAndFailsNoRequest() throws {
        let daemon = try startUpgradableDaemon()
        let port = daemon.port
        let loop = ClientLoop(port: port)
        loop.waitForSuccesses(20)
        for round in 1...2 {
            let old = daemon.workerPIDs()
            let fresh = try installBinary()
            _ = daemon.notifications(timeout: .zero)
            daemon.signal(SIGUSR2)
            try daemon.waitReady()
            XCTAssertTrue(daemon.waitForLog("upgraded: socketserverd", count: round), daemon.log)
            XCTAssertNil(daemon.reapIfExited(), "the master exited")
            XCTAssertEqual(inode("/proc/\(daemon.pid)/exe"), fresh, "the master does not run the new binary")
            loop.waitForSuccesses(20)
            XCTAssertTrue(daemon.waitGone(old, within: .seconds(5 + 2)), "old workers still there:\n\(daemon.log)")
            XCTAssertEqual(daemon.workerPIDs().count, 2, daemon.log)
        }
        let (successes, failures) = loop.stop()
        XCTAssertEqual(failures, [], "client loop failures during upgrades")
        XCTAssertGreaterThan(successes, 60)
        XCTAssertTrue(daemon.log.contains("generation 3"), daemon.log)
        // The upgraded master still does everything a master does: a reload, then a graceful stop.
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("generation 4"), daemon.log)
        XCTAssertTrue(daemon.log.contains("reloaded: generation 4"), daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
    }

    /// The control socket is handed over, not re-created: `status` answers before, during and
    /// after the exec, and the daemon's start time and reload count carry over.
    func testTheControlSocketKeepsAnsweringAcrossAnUpgrade() throws {
        let control = directory + "/control.sock"
        let daemon = try startUpgradableDaemon(daemon: ["control_socket": control])
        let before = try daemonStatus()
        XCTAssertEqual(before.generation, 1)
        let inodeBefore = inode(control)
        // Installed before the loop starts: a program it spawns while the copy is being written
        // would inherit the copy's descriptor, and the new binary would be busy (ETXTBSY).
        try installBinary()
        let config = configPath
        let asking = StatusLoop { try runProgram(DaemonProcess.binaryPath, ["status", "--json", "--config", config]) }
        defer { _ = asking.stop() }
        daemon.signal(SIGUSR2)
        try daemon.waitReady()
        let after = try daemonStatus { $0.generation == 2 && $0.workers("echo").allSatisfy { $0["generation"] as? Int == 2 } }
        let (answered, failures) = asking.stop()
        XCTAssertEqual(failures, [], "status failed during the upgrade")
        XCTAssertGreaterThan(answered, 0)
        XCTAssertEqual(after.pid, Int(daemon.pid))
        XCTAssertEqual(after.generation, 2)
        XCTAssertEqual(after.object["start_time"] as? Int, before.object["start_time"] as? Int)
        XCTAssertEqual(after.workerPIDs("echo"), daemon.workerPIDs())
        XCTAssertEqual(inode(control), inodeBefore, "the socket file was re-created")
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("generation 3"), daemon.log)
        XCTAssertEqual(try daemonStatus().reloads.ok, 1)
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
        XCTAssertEqual(inode(control), 0, "the socket file is removed at exit")
    }

    func testAnUpgradeThatCannotStartKeepsTheOldBinaryServing() throws {
        let daemon = try startUpgradableDaemon()
        let port = daemon.port
        let running = inode("/proc/\(daemon.pid)/exe")
        let workers = daemon.workerPIDs()
        let cases: [(String, () -> Void)] = [
            ("No such file", { unlink(self.binary) }),
            ("not executable", {
                _ = try? self.installBinary()
                chmod(self.binary, 0o644)
            }),
            ("--check-config exited with status 3", {
                unlink(self.binary)
                writeScript("#!/bin/sh\necho broken >&2\nexit 3\n", to: self.binary)
            }),
        ]
        for (index, (reason, breakIt)) in cases.enumerated() {
            breakIt()
            daemon.signal(SIGUSR2)
            XCTAssertNotNil(daemon.waitForStatus("upgrade failed; "), daemon.log)
            XCTAssertTrue(daemon.waitForLog("upgrade failed:", count: index + 1), daemon.log)
            let line = daemon.log.components(separatedBy: "\n").filter { $0.contains("upgrade failed:") }.last ?? ""
            XCTAssertTrue(line.contains(reason) && line.contains("still serving"), line)
            XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
            XCTAssertNil(daemon.reapIfExited())
        }
        XCTAssertTrue(daemon.log.contains("broken"), "the check's own words are in the log:\n\(daemon.log)")
        XCTAssertEqual(inode("/proc/\(daemon.pid)/exe"), running)
        XCTAssertEqual(daemon.workerPIDs(), workers, "the workers were replaced")
    }

    func testTheLogIsStillReopenedAfterAnUpgrade() throws {
        let logFile = makeDirectory("logs", mode: 0o755) + "/daemon.log"
        let daemon = try startUpgradableDaemon(daemon: ["log_file": logFile, "log_level": "debug"])
        let port = daemon.port
        daemon.signal(SIGUSR2)
        try daemon.waitReady()
        rename(logFile, logFile + ".1")
        daemon.signal(SIGUSR1)
        var text = ""
        try eventually(within: .seconds(10), every: .milliseconds(20)) {
            XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
            text = readText(logFile)
            return text.contains("log reopened") && text.contains("serving 127.0.0.1:")
        }
        XCTAssertTrue(text.contains("log reopened"), "the upgraded master did not reopen:\n\(text)")
        XCTAssertTrue(text.contains("serving 127.0.0.1:"), "no worker line in the new file:\n\(text)")
        let old = readText(logFile + ".1")
        XCTAssertTrue(old.contains("upgraded: socketserverd"), old)
    }

    /// The metrics listener and the daemon's start time survive an upgrade (whose check of the
    /// config finds the address held by the running daemon's own metrics process); the new image
    /// serves the next generation from its own metrics process.
    func testMetricsSurviveAnUpgrade() throws {
        _ = try prometheusPython()
        let port = freePort()
        let address = SocketAddress.inet(host: "127.0.0.1", port: port)
        let daemon = try startUpgradableDaemon(daemon: ["metrics": "tcp://127.0.0.1:\(port)"])
        let before = try parseMetrics(try scrapeMetrics(address).body, in: directory)
        let listener = try XCTUnwrap(listenerInode(port: port))
        daemon.signal(SIGUSR2)
        try daemon.waitReady()
        XCTAssertTrue(daemon.waitForLog("upgraded: socketserverd"), daemon.log)
        let after = try XCTUnwrap(pollValue(within: .seconds(10), every: .milliseconds(50)) { () -> ParsedMetrics? in
            let metrics = try? parseMetrics(try scrapeMetrics(address).body, in: directory)
            return metrics?.value("socketserverd_generation") == 2 ? metrics : nil
        }, "no scrape of generation 2:\n\(daemon.log)")
        XCTAssertEqual(after.value("socketserverd_start_time_seconds"), before.value("socketserverd_start_time_seconds"))
        XCTAssertEqual(listenerInode(port: port), listener, "the upgrade replaced the metrics listener")
        XCTAssertTrue(daemon.waitForLog("started on tcp://127.0.0.1:\(port) (generation 2)"), daemon.log)
    }
}

/// Runs `ask` (a `status` command) again and again on a thread until stopped; counts answers and
/// keeps what each failure said.
final class StatusLoop: @unchecked Sendable {
    private let lock = NSLock()
    private var answered = 0
    private var failures: [String] = []
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    init(_ ask: @escaping @Sendable () throws -> ProcessOutput) {
        Thread.detachNewThread { [self] in
            while lock.withLock({ running }) {
                let result = Result { try ask() }
                lock.withLock {
                    switch result {
                    case .success(let output) where output.status == 0: answered += 1
                    case .success(let output): failures.append(output.output)
                    case .failure(let error): failures.append("\(error)")
                    }
                }
            }
            done.signal()
        }
    }

    /// Stops the loop after the request in progress (once; again returns the same); the answers
    /// and failures.
    func stop() -> (answered: Int, failures: [String]) {
        let wasRunning = lock.withLock { () -> Bool in
            defer { running = false }
            return running
        }
        if wasRunning { done.wait() }
        return lock.withLock { (answered, failures) }
    }
}
