// Signals whose default action would kill (or stop) a process: none ends the master or a worker,
// and programs the workers start still get every signal at its default.
import CSocketServerShims
import Foundation
import SocketServer
import SocketServerTestSupport
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
        let daemon = try startDaemon(service: Service("echo", ["workers": 1]))
        let port = daemon.port
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
                XCTAssertTrue(isRunning(daemon.pid), "\(name) stopped the master:\n\(daemon.log)")
                XCTAssertTrue(isRunning(worker), "\(name) ended or stopped worker \(worker):\n\(daemon.log)")
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
        let program = script("signals.sh", "#!/bin/sh\nexec grep -E '^Sig(Ign|Blk):' /proc/self/status\n")
        let daemon = try startDaemon(service: Service("threads", handler: "exec", ["command": program, "workers": 1, "concurrency": "threads"]),
                                     Service("fork", handler: "exec", ["command": program, "workers": 1, "concurrency": "fork"]))
        for port in [daemon.port("threads"), daemon.port("fork")] {
            let client = try connectTCP(port: port)
            defer { client.close() }
            let output = try readAllText(client)
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
        let delivered = eventually(within: .seconds(10), every: .milliseconds(1)) { !(isRunning(pid) && isPending(signal, in: pid)) }
        guard delivered else { throw TestFailure.timeout("\(name) still pending in \(pid)") }
    }
}
