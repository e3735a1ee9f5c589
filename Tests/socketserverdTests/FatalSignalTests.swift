// Signals whose default action would kill (or stop) a process: none ends the master or a worker,
// and programs the workers start still get every signal at its default.
import CSocketServerShims
import Foundation
import SocketServer
import XCTest

final class FatalSignalTests: DaemonTestCase {
    /// The master logs these once per kind. (USR2 is the binary upgrade, see UpgradeTests.)
    static var logged: [(Int32, String)] {
        [(SIGALRM, "SIGALRM"), (SIGVTALRM, "SIGVTALRM"), (SIGPROF, "SIGPROF"), (SIGIO, "SIGIO"), (SIGPWR, "SIGPWR"),
         (SIGXCPU, "SIGXCPU"), (SIGSTKFLT, "SIGSTKFLT"), (SIGTSTP, "SIGTSTP"),
         (cssd_sigrtmin() + 1, "SIGRTMIN+1"), (cssd_sigrtmax(), "SIGRTMAX")]
    }
    /// The kernel discards these (ignored): nothing to log.
    static let discarded: [(Int32, String)] = [(SIGPIPE, "SIGPIPE"), (SIGXFSZ, "SIGXFSZ")]

    func testNoSignalWithAFatalDefaultEndsTheMasterOrAWorker() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            """)
        let worker = try XCTUnwrap(daemon.workerPIDs().first, daemon.log)
        for (signal, name) in Self.logged + Self.discarded + [(SIGUSR2, "SIGUSR2")] {
            for _ in 0..<2 {
                if signal != SIGUSR2 {
                    daemon.signal(signal)
                    try waitHandled(signal, by: daemon, name: name)
                }
                XCTAssertEqual(kill(worker, signal), 0, "worker \(worker) after \(name)")
                try waitDelivered(signal, to: worker, name: name)
                XCTAssertNil(daemon.reapIfExited(), "\(name) ended the master:\n\(daemon.log)")
                XCTAssertTrue(Self.isRunning(daemon.pid), "\(name) stopped the master:\n\(daemon.log)")
                XCTAssertTrue(Self.isRunning(worker), "\(name) ended or stopped worker \(worker):\n\(daemon.log)")
                XCTAssertEqual(try tcpRoundTrip(port: port, "after \(name)\n"), "after \(name)\n")
            }
            if Self.logged.contains(where: { $0.0 == signal }) {
                XCTAssertEqual(daemon.log.components(separatedBy: "warning: \(name) ignored\n").count - 1, 1,
                               "\(name), sent twice, should be logged once:\n\(daemon.log)")
            }
        }
        XCTAssertEqual(daemon.workerPIDs(), [worker], daemon.log)
        XCTAssertFalse(daemon.log.contains("respawning"), daemon.log)
        XCTAssertFalse(daemon.log.contains("upgrad"), "the worker's USR2 reached the master:\n\(daemon.log)")
        for (_, name) in Self.discarded { XCTAssertFalse(daemon.log.contains(name), daemon.log) }
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
    }

    /// The programs `exec` starts see no signal ignored and none blocked, though the worker that
    /// starts them ignores SIGPIPE, SIGUSR2 and the rest; with threads and with forked requests.
    func testExecProgramsGetEverySignalAtItsDefault() throws {
        let threadsPort = freePort(), forkPort = freePort()
        let program = directory + "/signals.sh"
        writeConfig("#!/bin/sh\nexec grep -E '^Sig(Ign|Blk):' /proc/self/status\n", to: program)
        chmod(program, 0o755)
        _ = try startDaemon("""
            [service threads]
            listen = tcp://127.0.0.1:\(threadsPort)
            handler = exec
            command = \(program)
            workers = 1
            concurrency = threads

            [service fork]
            listen = tcp://127.0.0.1:\(forkPort)
            handler = exec
            command = \(program)
            workers = 1
            concurrency = fork
            """)
        for port in [threadsPort, forkPort] {
            let client = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(5))
            defer { client.close() }
            let output = String(decoding: try readAll(client), as: UTF8.self)
            XCTAssertEqual(output, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n")
        }
    }

    // MARK: - Helpers

    /// Every SIGUSR1 sent to the master (each one logs "SIGUSR1: log reopened", and does nothing
    /// else when the log is stderr).
    private var barriers = 0

    /// Waits until the master has handled `signal`: it has left the master's pending set (delivered,
    /// or discarded as ignored), then two USR1s, sent one after the other, are logged. The second
    /// is handled in a later pass of the master's loop than anything delivered before the first.
    private func waitHandled(_ signal: Int32, by daemon: DaemonProcess, name: String) throws {
        try waitDelivered(signal, to: daemon.pid, name: name)
        for _ in 0..<2 {
            daemon.signal(SIGUSR1)
            barriers += 1
            guard daemon.waitForLog("SIGUSR1: log reopened", count: barriers) else {
                throw TestFailure.timeout("SIGUSR1 \(barriers) not logged after \(name):\n\(daemon.log)")
            }
        }
    }

    /// Waits until `signal` is no longer pending in `pid` (/proc/PID/status ShdPnd and SigPnd), or
    /// `pid` has ended or stopped (the caller's checks then report it).
    private func waitDelivered(_ signal: Int32, to pid: pid_t, name: String) throws {
        let deadline = Date().addingTimeInterval(10)
        while Self.isRunning(pid) && Self.isPending(signal, in: pid) {
            guard Date() < deadline else { throw TestFailure.timeout("\(name) still pending in \(pid)") }
            usleep(1000)
        }
    }

    static func isPending(_ signal: Int32, in pid: pid_t) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        let bit = UInt64(1) << UInt64(signal - 1)
        return status.split(separator: "\n").contains { line in
            guard line.hasPrefix("ShdPnd:") || line.hasPrefix("SigPnd:"),
                  let mask = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) else { return false }
            return mask & bit != 0
        }
    }

    /// Alive and neither stopped nor a zombie (the state letter in /proc/PID/stat).
    static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(after: close)...].split(separator: " ").first ?? ""
        return ["R", "S", "D"].contains(state)
    }
}
