// The first step of a binary upgrade: the new binary checks the running configuration in a child
// (`--check-config`), read without blocking from the master's poll.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

/// A running `BINARY --check-config --config PATH`; its stdout and stderr come back on `descriptor`.
final class UpgradeCheck {
    /// How long the new binary may take to check (its own plugin check included).
    static let timeout: Duration = ConfigCheck.timeout + .seconds(10)

    enum Verdict: Equatable {
        case passed
        case failed(String)
    }

    let binary: String
    private var child: ChildPipe
    var pid: pid_t { child.pid }
    var descriptor: Int32 { child.descriptor }
    let deadline: ContinuousClock.Instant
    private var output: [UInt8] = []

    private init(binary: String, pid: pid_t, descriptor: Int32) {
        self.binary = binary
        child = ChildPipe(pid: pid, descriptor: descriptor)
        deadline = ContinuousClock.now.advanced(by: UpgradeCheck.timeout)
    }

    /// Whether `binary` may be run by this master: a regular executable file; as root owned by
    /// root and writable by nobody else (as for plugins: whoever can write it would run as root).
    static func trust(_ binary: String, asRoot: Bool) throws(DaemonError) {
        var info = stat()
        guard stat(binary, &info) == 0 else { throw .system("new binary \(binary)", errno) }
        guard info.st_mode & S_IFMT == S_IFREG else { throw .message("new binary \(binary) is not a regular file") }
        guard access(binary, X_OK) == 0 else { throw .system("new binary \(binary) is not executable", errno) }
        if asRoot {
            guard info.st_uid == 0 else { throw .message("new binary \(binary) is not owned by root") }
            guard info.st_mode & 0o022 == 0 else { throw .message("new binary \(binary) is writable by group or others") }
        }
    }

    /// Starts the check; `inChild` runs first in the child (close the master's descriptors).
    static func start(binary: String, configPath: String, inChild: @escaping () -> Void) throws(DaemonError) -> UpgradeCheck {
        var fds: [Int32] = [-1, -1]
        guard cssd_pipe_cloexec(&fds, 0) == 0 else { throw .system("pipe", errno) }
        let arguments = [binary, "--check-config", "--config", configPath]
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let pid = forkWithSignalsBlocked { _ in
            inChild()
            close(fds[0])
            dup2(fds[1], 1)
            dup2(fds[1], 2)
            close(fds[1])
            unblockAllSignals()
            execv(binary, argv)
            let message = Array("cannot run \(binary): \(String(cString: strerror(errno)))\n".utf8)
            _ = message.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            _exit(127)
        }
        let code = errno
        close(fds[1])
        guard pid > 0 else {
            close(fds[0])
            throw .system("fork", code)
        }
        return UpgradeCheck(binary: binary, pid: pid, descriptor: fds[0])
    }

    /// Reads the check's output; at EOF (or past the deadline) reaps it: nil while it runs.
    func advance(now: ContinuousClock.Instant = .now) -> Verdict? {
        if !child.readAvailable(into: &output, limit: 65536) {
            guard now >= deadline else { return nil }
            abandon()
            return .failed("\(binary) --check-config did not finish within \(UpgradeCheck.timeout) and was killed")
        }
        let status = child.reap()
        if status == 0 { return .passed }
        let said = String(decoding: output, as: UTF8.self).split(separator: "\n").suffix(5).joined(separator: " / ")
        return .failed("\(binary) --check-config \(describeExit(status))" + (said.isEmpty ? "" : ": \(said)"))
    }

    /// Kills and reaps the checking child.
    func abandon() { child.kill() }
}
