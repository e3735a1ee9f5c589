// One program run for one request: posix_spawn with chosen stdin/stdout, stderr to the log,
// a clean environment, its own process group, a time limit, and always reaped.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

/// A spawned request program. `wait(limit:)` forwards its stderr lines to `logLine` and kills the
/// whole process group when the limit passes or when the program exits leaving jobs behind.
struct ExecProcess {
    let pid: pid_t
    private let stderrRead: Int32

    /// Spawns `command` with `stdin`/`stdout` as its fds 0 and 1 and `environment` as all it sees.
    static func spawn(_ command: ExecCommand, stdin: Int32, stdout: Int32, environment: [String]) throws(ExecCommandError) -> ExecProcess {
        var errPipe: [Int32] = [-1, -1]
        guard cssd_pipe_cloexec(&errPipe, 0) == 0 else { throw .init("pipe: \(String(cString: strerror(errno)))") }
        defer { close(errPipe[1]) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        // Every signal at its default in the program, whatever the worker ignores (SIGPIPE, USR2…).
        // Every bit set, not sigfillset: that leaves out glibc's two internal signals (32 and 33),
        // which its spawn helper then sets to SIG_IGN in the child, and exec keeps ignored.
        var all = sigset_t()
        memset(&all, 0xff, MemoryLayout<sigset_t>.size)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        // Nothing else: descriptors the daemon inherited without FD_CLOEXEC stay out of the program.
        closeInheritedDescriptors(&actions)
        let argv = ([command.program] + command.arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let code = posix_spawn(&pid, command.program, &actions, &attributes, argv, envp)
        guard code == 0 else {
            close(errPipe[0])
            throw .init("posix_spawn \(command.program): \(String(cString: strerror(code)))")
        }
        return ExecProcess(pid: pid, stderrRead: errPipe[0])
    }

    /// Waits for the program to end, forwarding stderr lines; past `limit` kills its process group.
    /// Returns the wait status and whether it was killed for the limit.
    ///
    /// It waits for the program itself (a pidfd, else `waitid` polled every 50 ms), not for its
    /// stderr to close: a background job (`sh -c 'prog &'`) keeps stderr open after the program
    /// exited. Once the program has exited, the stderr already written is read and whatever is left
    /// in its process group is killed, as it would be at the time limit, so the request ends.
    /// `beforeReaping` runs after the group is killed and before the child is reaped: the last
    /// moment at which its pid still names this program's process group (clear records of it there).
    func wait(limit: Duration?, beforeReaping: () -> Void = {}, logLine: (String) -> Void) -> (status: Int32, timedOut: Bool) {
        defer { close(stderrRead) }
        // The child is not reaped before the end of this function, so its pid (and process group
        // id) cannot be reused meanwhile: the pidfd and kill(-pid) below refer to it.
        let exitFD = pidfdOpen.map { $0(pid, 0) } ?? -1
        defer { if exitFD >= 0 { close(exitFD) } }
        let deadline = limit.map { ContinuousClock.now.advanced(by: $0) }
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var stderrOpen = true
        var exited = false
        var timedOut = false
        /// Reads once from stderr and forwards complete lines; false at end of file or on an error.
        func readStderr() -> Bool {
            let count = read(stderrRead, &buffer, buffer.count)
            if count < 0 && errno == EINTR { return true }
            if count <= 0 { return false }
            pending += buffer[..<count]
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                logLine(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
            return true
        }
        while !exited {
            var timeout: Int32 = -1
            if let deadline {
                let left = ContinuousClock.now.duration(to: deadline)
                if left <= .zero { timedOut = true; break }
                timeout = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            }
            if exitFD < 0 {
                if hasExited() { exited = true; break }
                timeout = timeout < 0 ? 50 : min(timeout, 50)
            }
            // poll ignores negative descriptors: a closed stderr, a missing pidfd.
            var entries = [pollfd(fd: stderrOpen ? stderrRead : -1, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: exitFD, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&entries, 2, timeout)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            if entries[1].revents != 0 { exited = true }
            if stderrOpen && entries[0].revents != 0 && !readStderr() { stderrOpen = false }
        }
        if exited {
            // What the program (or a background job) already wrote, without waiting for more.
            var drained = 0
            while stderrOpen && drained < 16 {
                var entry = pollfd(fd: stderrRead, events: Int16(POLLIN), revents: 0)
                let ready = poll(&entry, 1, 0)
                if ready < 0 && errno == EINTR { continue }
                if ready <= 0 || !readStderr() { break }
                drained += 1
            }
        }
        if !pending.isEmpty { logLine(String(decoding: pending, as: UTF8.self)) }
        // Timed out, or exited leaving jobs behind: the request's process group goes with it.
        kill(-pid, SIGKILL)
        if timedOut { kill(pid, SIGKILL) }
        beforeReaping()
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return (status, timedOut)
    }

    /// True once the child has exited (not reaped: WNOWAIT), for kernels without pidfd_open.
    private func hasExited() -> Bool {
        var info = siginfo_t()
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else { return errno == ECHILD }
        return info._sifields._sigchld.si_pid != 0
    }
}

/// Adds the close of every descriptor from 3 up: `posix_spawn_file_actions_addclosefrom_np`
/// (glibc 2.34+; close_range in the child, so nothing races with the worker's other threads).
/// Without it, an explicit close for each descriptor listed in /proc/self/fd that lacks FD_CLOEXEC
/// (those are what the program would inherit; a descriptor opened meanwhile by another thread
/// without FD_CLOEXEC could still slip through, but the daemon opens none that way).
private func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    if let addCloseFrom, addCloseFrom(&actions, 3) == 0 { return }
    guard let directory = opendir("/proc/self/fd") else { return }
    defer { closedir(directory) }
    let own = dirfd(directory)
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        guard let fd = Int32(name), fd >= 3, fd != own else { continue }
        let flags = fcntl(fd, F_GETFD)
        if flags >= 0 && flags & FD_CLOEXEC == 0 { posix_spawn_file_actions_addclose(&actions, fd) }
    }
}

/// A libc function Swift's Glibc module does not declare (it is under _GNU_SOURCE, or newer than
/// the headers Swift was built against), looked up at run time; nil if this libc lacks it.
private func libcFunction<Function>(_ name: String, as type: Function.Type) -> Function? {
    guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, name) else { return nil }
    return unsafeBitCast(symbol, to: type)
}

private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
/// `int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *, int from)`, glibc 2.34+.
private let addCloseFrom = libcFunction("posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self)

private typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
/// `int pidfd_open(pid_t, unsigned int flags)`, glibc 2.36+ (Linux 5.3+; -1/ENOSYS on older kernels).
/// The descriptor it returns is always close-on-exec.
private let pidfdOpen = libcFunction("pidfd_open", as: PidfdOpen.self)
