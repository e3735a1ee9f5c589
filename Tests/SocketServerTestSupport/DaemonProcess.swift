// The real socketserverd binary, started for a test in its own process group, its output in a
// log file, its sd_notify messages on a socket the test reads.
import Foundation
import SocketServer
import XCTest

/// A running daemon: readiness and status from sd_notify, its log, its workers.
public final class DaemonProcess {
    public let pid: pid_t
    public let logPath: String
    public let notify: NotifyListener
    public private(set) var exitStatus: Int32? = nil
    /// The ports of the listening sockets the test bound and passed to it, by service, in config order.
    public internal(set) var passedPorts: [(service: String, port: Int)] = []

    /// The built binary, next to the test bundle in the build directory.
    public static var binaryPath: String { builtExecutable(named: "socketserverd") }

    /// Spawns `socketserverd --config configPath` in a new process group.
    /// `passing` sockets are handed over as fds 3, 4, … with LISTEN_PID/LISTEN_FDS set, as systemd
    /// does for socket activation (a shell sets LISTEN_PID to its own pid, then execs the daemon);
    /// `wrapper` is shell text run before that exec (`ulimit -n 24;`).
    public init(configPath: String, directory: String, extraArguments: [String] = [], environment: [String: String] = [:],
                notifyPath: String? = nil, passing: [Int32] = [], wrapper: String = "", binary: String = DaemonProcess.binaryPath) throws {
        ChildReaping.becomeSubreaper
        notify = try NotifyListener(path: notifyPath ?? directory + "/notify.sock")
        logPath = directory + "/daemon.log"
        var env = ["PATH=/usr/bin:/bin", "NOTIFY_SOCKET=\(notify.displayPath)"]
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) { env.append("\(key)=\(value)") }
        let arguments = ["--config", configPath] + extraArguments
        if passing.isEmpty && wrapper.isEmpty {
            pid = try spawn(binary, arguments, env: env, stdout: logPath, stderr: logPath)
        } else {
            let listen = passing.isEmpty ? "" : "LISTEN_PID=$$ LISTEN_FDS=\(passing.count) "
            let command = "\(wrapper) \(listen)exec \"$0\" \"$@\""
            pid = try spawn("/bin/sh", ["-c", command, binary] + arguments, env: env,
                            stdout: logPath, stderr: logPath, passing: passing)
        }
    }

    /// The port passed for `service` (the first passed one if nil).
    public func port(_ service: String? = nil, file: StaticString = #filePath, line: UInt = #line) -> Int {
        guard let entry = passedPorts.first(where: { service == nil || $0.service == service }) else {
            XCTFail("no socket was passed for service \(service ?? "(any)"): \(passedPorts)", file: file, line: line)
            return 0
        }
        return entry.port
    }

    /// The port of the only (or first) service the test passed a socket for.
    public var port: Int { port(nil) }

    /// The passed ports by service name (for writing the config again on the same sockets).
    public var ports: [String: Int] {
        Dictionary(passedPorts.map { ($0.service, $0.port) }, uniquingKeysWith: { first, _ in first })
    }

    public var log: String { readText(logPath) }

    public func signal(_ number: Int32) { kill(pid, number) }

    /// Non-blocking: the wait status if the master has exited. Reaped by someone else (a wait
    /// for any child), it counts as exited with status -1: its pid may belong to another process
    /// by now, and is never signalled again.
    public func reapIfExited() -> Int32? {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        let reaped = waitpid(pid, &status, WNOHANG)
        if reaped == pid { exitStatus = status } else if reaped < 0, errno == ECHILD { exitStatus = -1 }
        return exitStatus
    }

    /// Waits up to `limit` for the master to exit; its wait status, or nil.
    @discardableResult
    public func waitExit(within limit: Duration = .seconds(20)) -> Int32? {
        pollValue(within: limit, every: .milliseconds(10)) { reapIfExited() }
    }

    /// Stops the daemon (TERM, then KILL of its group), and reaps it and every orphan it left.
    public func stop() {
        if reapIfExited() == nil {
            kill(pid, SIGTERM)
            if waitExit(within: .seconds(15)) == nil {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                waitExit(within: .seconds(5))
            }
        }
        ChildReaping.reapAll()
    }

    /// Live worker pids (children of the master), sorted.
    public func workerPIDs() -> [pid_t] { childPIDs(of: pid) }
}

/// Why a test's own setup or wait failed (the assertion that reports it has already been made).
public enum TestFailure: Error {
    case notReady
    case timeout(String)
    /// A step of the setup that is not the thing under test (a compile, a rename, a config).
    case setup(String)
}
