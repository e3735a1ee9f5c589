// ForkingMixIn: a child process per request (Python's socketserver.ForkingMixIn).
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims
import Synchronization

/// Serves each request in a forked child. The parent closes its copy of the connection and goes on;
/// children are reaped by `collectChildren` in `serviceActions`, and at most `maxChildren` run at once.
/// A child whose handler throws calls `handleError` and exits with status 1.
///
/// Fork only from a process with a single thread: a child of a multithreaded process inherits locks
/// other threads held. The mix-in warns once on stderr when it forks from such a process.
public final class ForkingMixIn: RequestConcurrency, @unchecked Sendable {
    private struct State {
        var maxChildren = 40
        var blockOnClose = true
        var active: Set<pid_t> = []
        var warnedAboutThreads = false
        var childExited: (@Sendable (pid_t, Int32) -> Void)? = nil
        var childStarted: (@Sendable (pid_t, Request) -> Void)? = nil
        /// Calls of `collectChildren` since the last one that asked every child.
        var collections = 0
    }
    private let state = Mutex(State())

    /// Called with each reaped child's pid and wait status (a server may clean up after a child
    /// that died without doing so itself, e.g. killed by a signal). Not part of CPython's API.
    public var childExited: (@Sendable (pid_t, Int32) -> Void)? { get { state[\.childExited] } set { state[\.childExited] = newValue } }

    /// Called in the parent with each new child's pid and the request it serves, before the parent
    /// closes its copy (a server may note who ends the request). Not part of CPython's API.
    public var childStarted: (@Sendable (pid_t, Request) -> Void)? { get { state[\.childStarted] } set { state[\.childStarted] = newValue } }

    public init(maxChildren: Int = 40, blockOnClose: Bool = true) {
        state.withLock {
            $0.maxChildren = maxChildren
            $0.blockOnClose = blockOnClose
        }
    }

    /// The most children alive at once (Python's `max_children`, 40).
    public var maxChildren: Int { get { state[\.maxChildren] } set { state[\.maxChildren] = newValue } }

    /// Whether `serverClose()` waits for every child (Python's `block_on_close`, true).
    public var blockOnClose: Bool { get { state[\.blockOnClose] } set { state[\.blockOnClose] = newValue } }

    /// The pids of children not yet reaped (Python's `active_children`).
    public var activeChildren: Set<pid_t> { state.withLock { $0.active } }

    public func processRequest(_ request: Request, server: BaseServer) throws {
        warnIfThreaded()
        let pid = fork()
        if pid < 0 { throw SocketError.last("fork") }
        if pid > 0 {
            let started = state.withLock { state in
                state.active.insert(pid)
                return state.childStarted
            }
            started?(pid, request)
            server.closeRequest(request)
            return
        }
        // In the child: serve, report, and leave without running the parent's exit handlers.
        var status: Int32 = 0
        do {
            try server.finishRequest(request)
        } catch {
            server.handleError(error, request: request)
            status = 1
        }
        server.endRequest(request)
        _exit(status)
    }

    /// Reaps finished children. Over `maxChildren`, waits for one to end first; with `blocking`,
    /// waits for all. With more than 4 children and without `blocking`, it asks the kernel which
    /// child has exited (one call when none has) rather than each child in turn (a call per child
    /// and per request), which it still does every 64th time (a child reaped by someone else is
    /// forgotten then), or when a process that is not one of its children has exited first.
    public func collectChildren(blocking: Bool = false) {
        // Too many children: wait for any to finish (as CPython does) before accepting more.
        while state.withLock({ $0.active.count >= $0.maxChildren && !$0.active.isEmpty }) {
            var status: Int32 = 0
            guard let pid = try? retryingOnInterrupt({ waitpid(-1, &status, 0) }) else {
                state.withLock { $0.active.removeAll() }  // ECHILD: nothing of ours is left
                break
            }
            reaped(pid, status)
        }
        let askEach = state.withLock { state in
            state.collections += 1
            return blocking || state.active.count <= 4 || state.collections % 64 == 0
        }
        if !askEach && reapExitedChildren() { return }
        for pid in activeChildren {
            var status: Int32 = 0
            do {
                if try retryingOnInterrupt({ waitpid(pid, &status, blocking ? 0 : WNOHANG) }) == pid { reaped(pid, status) }
            } catch .noChild {
                state.withLock { _ = $0.active.remove(pid) }
            } catch {}
        }
    }

    /// Reaps, without waiting, each exited child of this mix-in: waitid looks at one exited child
    /// without reaping it; one of these is reaped, and the next is looked at. True once no child has
    /// exited; false when the process has no children, or an exited one is not of this mix-in (a
    /// process reparented to a subreaper): then `collectChildren` asks each of its children.
    private func reapExitedChildren() -> Bool {
        while true {
            var info = siginfo_t()
            guard waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) == 0 else { return false }
            let pid = info._sifields._sigchld.si_pid
            if pid == 0 { return true }
            guard state.withLock({ $0.active.contains(pid) }) else { return false }
            var status: Int32 = 0
            guard (try? retryingOnInterrupt({ waitpid(pid, &status, WNOHANG) })) == pid else { return false }
            reaped(pid, status)
        }
    }

    private func reaped(_ pid: pid_t, _ status: Int32) {
        let callback = state.withLock { state in
            state.active.remove(pid) == nil ? nil : state.childExited
        }
        callback?(pid, status)
    }

    public func serviceActions(_ server: BaseServer) { collectChildren() }
    public func handleTimeout(_ server: BaseServer) { collectChildren() }
    public func serverClose(_ server: BaseServer) { collectChildren(blocking: blockOnClose) }

    /// Warns once if this process has threads besides the calling one (a thread `runAfterFork`
    /// parked holds no lock and does not count).
    private func warnIfThreaded() {
        let threads = cssd_thread_count() - parkedForkingThreads
        guard threads > 1 else { return }
        let first = state.withLock { state -> Bool in
            defer { state.warnedAboutThreads = true }
            return !state.warnedAboutThreads
        }
        if first {
            writeStandardError("socketserver: warning: forking a process that has \(threads) threads; the child may deadlock on a lock another thread held")
        }
    }
}
