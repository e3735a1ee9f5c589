// SIGUSR2: the binary at the master's path replaces the running one with the same pid and no failed
// request; a missing, non-executable or failing new binary leaves the old one serving.
import Foundation
import SocketServer
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
        guard rename(staged, binary) == 0 else { throw TestFailure.timeout("rename: \(errno)") }
        return inode(binary)
    }

    func inode(_ path: String) -> UInt64 {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_ino) : 0
    }

    func startDaemon(port: Int, daemonKeys: String = "") throws -> DaemonProcess {
        try FileManager.default.createDirectory(atPath: directory + "/bin", withIntermediateDirectories: true)
        chmod(directory + "/bin", 0o755)
        try installBinary()
        let path = writeConfig("""
            [daemon]
            graceful_timeout = 5
            \(daemonKeys)

            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 2
            concurrency = threads
            """, to: configDirectory + "/socketserverd.conf")
        let daemon = try DaemonProcess(configPath: path, directory: directory, binary: binary)
        daemons.append(daemon)
        try daemon.waitReady()
        return daemon
    }

    /// Waits until none of `pids` is a child of the daemon any more.
    func waitGone(_ pids: [pid_t], from daemon: DaemonProcess, timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if Set(daemon.workerPIDs()).isDisjoint(with: pids) { return true }
            usleep(20_000)
        }
        return false
    }

    func testUpgradeUnderLoadKeepsThePidAndFailsNoRequest() throws {
        let port = freePort()
        let daemon = try startDaemon(port: port)
        let loop = ClientLoop(port: port)
        loop.waitForSuccesses(20)
        for round in 1...2 {
            let old = daemon.workerPIDs()
            let fresh = try installBinary()
            _ = daemon.notifications(timeout: 0)
            daemon.signal(SIGUSR2)
            try daemon.waitReady()
            XCTAssertTrue(daemon.waitForLog("upgraded: socketserverd", count: round), daemon.log)
            XCTAssertNil(daemon.reapIfExited(), "the master exited")
            XCTAssertEqual(inode("/proc/\(daemon.pid)/exe"), fresh, "the master does not run the new binary")
            loop.waitForSuccesses(20)
            XCTAssertTrue(waitGone(old, from: daemon, timeout: 5 + 2), "old workers still there:\n\(daemon.log)")
            XCTAssertEqual(daemon.workerPIDs().count, 2, daemon.log)
        }
        let (successes, failures) = loop.stop()
        XCTAssertEqual(failures, [], "client loop failures during upgrades")
        XCTAssertGreaterThan(successes, 60)
        XCTAssertTrue(daemon.log.contains("generation 3"), daemon.log)
        // The upgraded master still does everything a master does: a reload, then a graceful stop.
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("reloaded: generation 4"), daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
    }

    func testAnUpgradeThatCannotStartKeepsTheOldBinaryServing() throws {
        let port = freePort()
        let daemon = try startDaemon(port: port)
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
                _ = FileManager.default.createFile(atPath: self.binary, contents: Data("#!/bin/sh\necho broken >&2\nexit 3\n".utf8))
                chmod(self.binary, 0o755)
            }),
        ]
        for (index, (reason, breakIt)) in cases.enumerated() {
            breakIt()
            daemon.signal(SIGUSR2)
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
        let port = freePort()
        let logFile = directory + "/logs/daemon.log"
        mkdir(directory + "/logs", 0o755)
        let daemon = try startDaemon(port: port, daemonKeys: "log_file = \(logFile)\nlog_level = debug")
        daemon.signal(SIGUSR2)
        try daemon.waitReady()
        rename(logFile, logFile + ".1")
        daemon.signal(SIGUSR1)
        let deadline = Date().addingTimeInterval(10)
        var text = ""
        while Date() < deadline {
            XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
            text = (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? ""
            if text.contains("log reopened") && text.contains("serving 127.0.0.1:") { break }
            usleep(20_000)
        }
        XCTAssertTrue(text.contains("log reopened"), "the upgraded master did not reopen:\n\(text)")
        XCTAssertTrue(text.contains("serving 127.0.0.1:"), "no worker line in the new file:\n\(text)")
        let old = (try? String(contentsOfFile: logFile + ".1", encoding: .utf8)) ?? ""
        XCTAssertTrue(old.contains("upgraded: socketserverd"), old)
    }
}
