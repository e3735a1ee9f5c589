// One program run for one request: posix_spawn with chosen stdin/stdout, stderr to the log,
// a clean environment, its own process group, an idle limit, and always reaped.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import SocketServer

/// A spawned request program. `wait(idle:relay:)` relays its input and output, forwards its stderr
/// lines to `logLine`, and kills the whole process group when no data moved either way for `idle`
/// or when the program exits leaving jobs behind.
struct ExecProcess {
    let pid: pid_t
    private let stderrRead: Int32

    /// Spawns `command` in `directory` with `stdin`/`stdout` as its fds 0 and 1 and `environment`
    /// as all it sees.
    static func spawn(_ command: ExecCommand, directory: String, stdin: Int32, stdout: Int32,
                      environment: [String]) throws(ExecCommandError) -> ExecProcess {
        var errPipe: [Int32] = [-1, -1]
        guard cssd_pipe_cloexec(&errPipe, 0) == 0 else { throw .init("pipe: \(String(cString: strerror(errno)))") }
        defer { close(errPipe[1]) }
        do {
            // Its own process group; every signal at its default, whatever the worker ignores
            // (SIGPIPE, USR2…); no descriptor but 0, 1 and 2, even one the daemon inherited
            // without FD_CLOEXEC.
            let pid = try spawnProcess(
                command.program, arguments: command.arguments, environment: environment,
                fileActions: [.duplicate(stdin, as: 0), .duplicate(stdout, as: 1), .duplicate(errPipe[1], as: 2), .closeFrom(3),
                              .changeDirectory(directory)],
                newProcessGroup: true, signalsAtDefault: true)
            return ExecProcess(pid: pid, stderrRead: errPipe[0])
        } catch {
            close(errPipe[0])
            throw .init("posix_spawn \(command.program): \(error)")
        }
    }

    /// Waits for the program to end, moving `relay`'s data and forwarding stderr lines; once no data
    /// moved either way for `idle` (nil: no limit), kills its process group. Returns the wait
    /// status and whether it was killed for being idle.
    ///
    /// It waits for the program itself (a pidfd, else `waitid` polled every 50 ms), not for its
    /// stderr to close: a background job (`sh -c 'prog &'`) keeps stderr open after the program
    /// exited. Once the program has exited, the stderr already written is read and whatever is left
    /// in its process group is killed, as it would be at the idle limit, so the request ends; then
    /// the output it left is relayed to the client.
    /// `beforeReaping` runs after the group is killed and before the child is reaped: the last
    /// moment at which its pid still names this program's process group (clear records of it there).
    func wait(idle: Duration?, relay: inout ExecRelay, beforeReaping: () -> Void = {},
              logLine: (String) -> Void) -> (status: Int32, timedOut: Bool) {
        defer { close(stderrRead) }
        // The child is not reaped before the end of this function, so its pid (and process group
        // id) cannot be reused meanwhile: the pidfd and kill(-pid) below refer to it.
        let exitFD = pidfdOpen.map { $0(pid, 0) } ?? -1
        defer { if exitFD >= 0 { close(exitFD) } }
        var lastMoved = ContinuousClock.now
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        var stderrOpen = true
        var exited = false
        var timedOut = false
        /// Reads once from stderr and forwards complete lines; false at end of file or on an error.
        func readStderr() -> Bool {
            guard let count = try? retryingOnInterrupt({ read(stderrRead, &buffer, buffer.count) }), count > 0 else { return false }
            pending += buffer[..<count]
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                logLine(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
            return true
        }
        while !exited {
            var timeout: Int32 = -1
            if let idle {
                let left = lastMoved.advanced(by: idle) - .now
                if left <= .zero {
                    // A program with the connection itself: the kernel knows when data last moved.
                    if let quiet = relay.quietTime(), quiet < idle {
                        lastMoved = ContinuousClock.now.advanced(by: .zero - quiet)
                        continue
                    }
                    timedOut = true
                    break
                }
                timeout = pollMilliseconds(left)
            }
            if exitFD < 0 {
                if hasExited() { exited = true; break }
                timeout = timeout < 0 ? 50 : min(timeout, 50)
            }
            // poll ignores negative descriptors: a closed stderr, a missing pidfd, a relay's idle side.
            var entries = [pollfd(fd: stderrOpen ? stderrRead : -1, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: exitFD, events: Int16(POLLIN), revents: 0)] + relay.pollEntries
            // Nothing ready, or interrupted: the loop works out the time left and polls again.
            if poll(&entries, nfds_t(entries.count), timeout) <= 0 { continue }
            if entries[1].revents != 0 { exited = true }
            if stderrOpen && entries[0].revents != 0 && !readStderr() { stderrOpen = false }
            if relay.move(entries[2...]) { lastMoved = .now }
        }
        if exited {
            // What the program (or a background job) already wrote, without waiting for more.
            var drained = 0
            while stderrOpen && drained < 16 {
                var entry = pollfd(fd: stderrRead, events: Int16(POLLIN), revents: 0)
                guard let ready = try? retryingOnInterrupt({ poll(&entry, 1, 0) }), ready > 0, readStderr() else { break }
                drained += 1
            }
        }
        if !pending.isEmpty { logLine(String(decoding: pending, as: UTF8.self)) }
        // Timed out, or exited leaving jobs behind: the request's process group goes with it.
        kill(-pid, SIGKILL)
        if timedOut { kill(pid, SIGKILL) } else { relay.finishOutput(idle: idle) }
        beforeReaping()
        var status: Int32 = 0
        _ = try? retryingOnInterrupt { waitpid(pid, &status, 0) }
        return (status, timedOut)
    }

    /// True once the child has exited (not reaped: WNOWAIT), for kernels without pidfd_open.
    private func hasExited() -> Bool {
        var info = siginfo_t()
        guard waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 else { return errno == ECHILD }
        return info._sifields._sigchld.si_pid != 0
    }
}

private typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
/// `int pidfd_open(pid_t, unsigned int flags)`, glibc 2.36+ (Linux 5.3+; -1/ENOSYS on older kernels).
/// The descriptor it returns is always close-on-exec.
private let pidfdOpen = libcFunction("pidfd_open", as: PidfdOpen.self)
