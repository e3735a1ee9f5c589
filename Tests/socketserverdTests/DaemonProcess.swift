// Starts the real socketserverd binary for a test and makes sure nothing it started outlives the test.
import CSocketServerShims
import Foundation
import SocketServer
import XCTest

/// A running daemon: its own process group, its stderr in a file, readiness from sd_notify.
final class DaemonProcess {
    let pid: pid_t
    let logPath: String
    let notify: NotifyListener
    private(set) var exitStatus: Int32? = nil

    /// The built binary, next to the test bundle in the build directory.
    static var binaryPath: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent("socketserverd").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return "socketserverd-not-built"
    }

    /// Spawns `socketserverd --config configPath` in a new process group.
    /// `passing` sockets are handed over as fds 3, 4, … with LISTEN_PID/LISTEN_FDS set, as systemd
    /// does for socket activation (a shell sets LISTEN_PID to its own pid, then execs the daemon).
    init(configPath: String, directory: String, extraArguments: [String] = [], environment: [String: String] = [:],
         notifyPath: String? = nil, passing: [Int32] = [], wrapper: String = "", binary: String = DaemonProcess.binaryPath) throws {
        _ = DaemonProcess.becomeSubreaper
        notify = try NotifyListener(path: notifyPath ?? directory + "/notify.sock")
        logPath = directory + "/daemon.log"
        var env = ["PATH=/usr/bin:/bin", "NOTIFY_SOCKET=\(notify.displayPath)"]
        for (key, value) in environment { env.append("\(key)=\(value)") }
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

    /// Every notification received since the last call (waiting up to `timeout` for the first).
    func notifications(timeout: TimeInterval = 0.5) -> [String] {
        var messages: [String] = []
        var wait = timeout
        while let message = notify.receive(timeout: wait) {
            messages.append(message)
            wait = 0.05
        }
        return messages
    }

    /// Waits for READY=1 (the master serves every service). Fails with the log on timeout or early exit.
    func waitReady(timeout: TimeInterval = 20, file: StaticString = #filePath, line: UInt = #line) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let message = notify.receive(timeout: 0.2), message.contains("READY=1") { return }
            if let status = reapIfExited() {
                XCTFail("daemon exited (status \(status)) before READY:\n\(log)", file: file, line: line)
                throw TestFailure.notReady
            }
        }
        XCTFail("daemon not READY within \(timeout)s:\n\(log)", file: file, line: line)
        throw TestFailure.notReady
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    func signal(_ number: Int32) { kill(pid, number) }

    /// Non-blocking: the exit status if the master has exited.
    func reapIfExited() -> Int32? {
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { exitStatus = status }
        return exitStatus
    }

    /// Waits up to `timeout` for the master to exit; returns its wait status or nil.
    @discardableResult
    func waitExit(timeout: TimeInterval = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let status = reapIfExited() { return status }
            usleep(10_000)
        }
        return nil
    }

    /// Waits until the log contains `text` (count times), polling the file.
    @discardableResult
    func waitForLog(_ text: String, count: Int = 1, timeout: TimeInterval = 15) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if log.components(separatedBy: text).count - 1 >= count { return true }
            usleep(20_000)
        }
        return false
    }

    /// Stops the daemon (TERM, then KILL of its group), and reaps it and every orphan it left.
    func stop() {
        if reapIfExited() == nil {
            kill(pid, SIGTERM)
            if waitExit(timeout: 15) == nil {
                kill(-pid, SIGKILL)
                kill(pid, SIGKILL)
                waitExit(timeout: 5)
            }
        }
        DaemonProcess.reapOrphans()
    }

    /// This test process adopts orphans (workers of a killed master) so it can reap them.
    static let becomeSubreaper: Void = { _ = cssd_set_child_subreaper(1) }()

    /// Waits for adopted processes (workers whose master died) for up to a few seconds, then kills them.
    static func reapOrphans(timeout: TimeInterval = 5) {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid > 0 { continue }
            if pid < 0 { return }  // ECHILD: no children left
            if Date() >= deadline {
                for child in childPIDs() { kill(child, SIGKILL) }
                while waitpid(-1, &status, 0) > 0 {}
                return
            }
            usleep(10_000)
        }
    }

    /// Reaps adopted processes that have ended, leaving the running daemons (and their statuses) alone.
    static func reapAdopted(sparing daemons: [pid_t]) {
        for pid in childPIDs() where !daemons.contains(pid) {
            var status: Int32 = 0
            _ = waitpid(pid, &status, WNOHANG)
        }
    }

    /// Pids whose parent is this process (or `parent`).
    static func childPIDs(of parent: pid_t = getpid()) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { parentPID(of: $0) == parent }
    }

    static func parentPID(of pid: pid_t) -> pid_t? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? pid_t(fields[1]) : nil
    }

    /// Live worker pids (children of the master) with their state letter.
    func workerPIDs() -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { DaemonProcess.parentPID(of: $0) == pid }.sorted()
    }
}

enum TestFailure: Error { case notReady, timeout(String) }

/// Receives sd_notify datagrams the way systemd does.
final class NotifyListener {
    let path: String
    let socket: Socket

    /// A path, or `@name` for Linux's abstract namespace (as systemd may use).
    init(path: String) throws {
        self.path = path
        socket = try Socket(family: .unix, type: .datagram)
        if path.hasPrefix("@") {
            try socket.bind(.unix(path: "\0" + path.dropFirst()))
        } else {
            unlink(path)
            try socket.bind(.unix(path: path))
            chmod(path, 0o666)  // a daemon started as root sends READY after becoming "nobody"
        }
    }

    var displayPath: String { path }

    deinit { if !path.hasPrefix("@") { unlink(path) } }

    func receive(timeout: TimeInterval) -> String? {
        try? socket.setTimeout(.milliseconds(Int(timeout * 1000)))
        guard let (data, _) = try? socket.recvFrom(4096) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}

/// posix_spawn with a new process group and stdout/stderr redirected to files; returns the pid.
func spawn(_ path: String, _ arguments: [String], env: [String], stdout: String? = nil, stderr: String? = nil, stdin: String? = nil,
           passing: [Int32] = []) throws -> pid_t {
    var actions: [SpawnFileAction] = [.open(stdin ?? "/dev/null", flags: O_RDONLY, as: 0)]
    if let stdout { actions.append(.open(stdout, flags: O_WRONLY | O_CREAT | O_APPEND, as: 1)) }
    if let stderr { actions.append(.open(stderr, flags: O_WRONLY | O_CREAT | O_APPEND, as: 2)) }
    // Passed fds go to 3, 4, …: first to high numbers (so no source is overwritten), then down.
    let high = passing.map { fcntl($0, F_DUPFD_CLOEXEC, 200) }
    defer { high.forEach { close($0) } }
    for (index, fd) in high.enumerated() { actions.append(.duplicate(fd, as: Int32(3 + index))) }
    do {
        // Under a sanitizer, the daemon (and anything else spawned) writes its reports where tearDown looks.
        return try spawnProcess(path, arguments: arguments, environment: env + Sanitizers.environment,
                                fileActions: actions, newProcessGroup: true, signalsAtDefault: true)
    } catch {
        throw SocketError.system(call: "posix_spawn \(path)", errno: error.rawValue)
    }
}
