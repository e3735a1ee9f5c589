// Starting programs for tests: posix_spawn in a new process group with the signal state reset,
// output to files or pipes, and running one to its end within a time limit.
import CSocketServerShims
import Glibc
import SocketServer

/// posix_spawn of `path` in a new process group, signals unblocked and at their defaults, stdin
/// from `stdin` (/dev/null by default), stdout and stderr appended to files, `redirect` pairs
/// (descriptor, target) duplicated onto their targets, and `passing` descriptors given as 3, 4, …
/// Returns the pid; the caller waits for it.
public func spawn(_ path: String, _ arguments: [String], env: [String], stdout: String? = nil, stderr: String? = nil,
                  stdin: String? = nil, redirect: [(Int32, Int32)] = [], passing: [Int32] = []) throws -> pid_t {
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    posix_spawnattr_setpgroup(&attributes, 0)
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var defaults = sigset_t()
    sigfillset(&defaults)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, stdin ?? "/dev/null", O_RDONLY, 0)
    if let stdout { posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_APPEND, 0o644) }
    if let stderr { posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_APPEND, 0o644) }
    for (fd, target) in redirect { posix_spawn_file_actions_adddup2(&actions, fd, target) }
    // Passed fds go to 3, 4, …: first to high numbers (so no source is overwritten), then down.
    let high = passing.map { fcntl($0, F_DUPFD_CLOEXEC, 200) }
    defer { high.forEach { close($0) } }
    for (index, fd) in high.enumerated() { posix_spawn_file_actions_adddup2(&actions, fd, Int32(3 + index)) }
    let argv = ([path] + arguments).map { strdup($0) } + [nil]
    // Under a sanitizer, the daemon (and anything else spawned) writes its reports where tests look.
    let envp = (env + Sanitizers.environment).map { strdup($0) } + [nil]
    defer {
        argv.forEach { free($0) }
        envp.forEach { free($0) }
    }
    var pid: pid_t = 0
    let code = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
    guard code == 0 else { throw SocketError.system(call: "posix_spawn \(path)", errno: code) }
    return pid
}

/// The environment of this process, as `KEY=value` strings.
public var inheritedEnvironment: [String] {
    var result: [String] = []
    var entry = environ
    while let pointer = entry.pointee {
        result.append(String(cString: pointer))
        entry += 1
    }
    return result
}

/// What a program that ran to its end left: its exit code (nil if it was killed at the time
/// limit; -N if signal N ended it) and what it wrote.
public struct ProcessOutput {
    public let status: Int32?
    public let stdout: String
    public let stderr: String
    /// stdout, then stderr.
    public var output: String { stdout + stderr }
    /// The exit code (-1 if it was killed at the time limit) and stdout, then stderr.
    public var statusAndOutput: (Int32, String) { (status ?? -1, output) }
}

/// Runs `path arguments…` (through `/bin/sh -c 'cd DIR && exec …'` when `directory` is given),
/// with `stdin` (a file, /dev/null by default) as its input, reading its stdout and stderr through
/// pipes; after `limit` its process group is killed.
public func runProgram(_ path: String, _ arguments: [String], env: [String] = ["PATH=/usr/bin:/bin"],
                       in directory: String? = nil, stdin: String? = nil, limit: Duration = .seconds(20)) throws -> ProcessOutput {
    var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
    guard cssd_pipe_cloexec(&outPipe, 0) == 0 else { throw SocketError.system(call: "pipe2", errno: errno) }
    guard cssd_pipe_cloexec(&errPipe, 0) == 0 else {
        let code = errno
        outPipe.forEach { close($0) }
        throw SocketError.system(call: "pipe2", errno: code)
    }
    defer { close(outPipe[0]); close(errPipe[0]) }
    let pid: pid_t
    do {
        defer { close(outPipe[1]); close(errPipe[1]) }
        let redirect = [(outPipe[1], Int32(1)), (errPipe[1], Int32(2))]
        if let directory {
            pid = try spawn("/bin/sh", ["-c", "cd \"$0\" && exec \"$@\"", directory, path] + arguments, env: env,
                            stdin: stdin, redirect: redirect)
        } else {
            pid = try spawn(path, arguments, env: env, stdin: stdin, redirect: redirect)
        }
    }
    var output: [Int32: [UInt8]] = [outPipe[0]: [], errPipe[0]: []]
    var open = [outPipe[0], errPipe[0]]
    let deadline = ContinuousClock.now.advanced(by: limit)
    var killed = false
    while !open.isEmpty {
        let left = ContinuousClock.now.duration(to: deadline)
        if left <= .zero { kill(-pid, SIGKILL); killed = true; break }
        var entries = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        if poll(&entries, nfds_t(entries.count), Int32(clamping: left.roundedMilliseconds + 1)) < 0, errno != EINTR { break }
        for entry in entries where entry.revents != 0 {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = read(entry.fd, &buffer, buffer.count)
            if count > 0 { output[entry.fd, default: []] += buffer[..<count] } else if count == 0 || errno != EINTR {
                open.removeAll { $0 == entry.fd }
            }
        }
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0, errno == EINTR {}
    let code: Int32? = killed ? nil : (status & 0x7f) == 0 ? (status >> 8) & 0xff : -(status & 0x7f)
    let stderr = String(decoding: output[errPipe[0]] ?? [], as: UTF8.self) + (killed ? "\n(killed after \(limit))" : "")
    return ProcessOutput(status: code, stdout: String(decoding: output[outPipe[0]] ?? [], as: UTF8.self), stderr: stderr)
}

/// Waits for `pid` (spawned in its own process group) to exit; its exit code, or nil if it did
/// not exit within `limit` (its group is then killed and it is reaped).
public func exitCode(of pid: pid_t, within limit: Duration = .seconds(20)) -> Int32? {
    var status: Int32 = 0
    let exited = eventually(within: limit, every: .milliseconds(10)) { waitpid(pid, &status, WNOHANG) != 0 }
    guard exited else {
        kill(-pid, SIGKILL)
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        return nil
    }
    return (status >> 8) & 0xff
}
