// The mix-ins' attributes where Python has them, on the server: `server.daemonThreads = true`
// works on any server, whatever class it is and however its concurrency was chosen.
#if canImport(Glibc)
import Glibc
#endif

/// Python sets a mix-in's attributes on the server (`server.daemon_threads = True`), since the
/// server *is* its mix-in. Here the server composes its `concurrency`, and these forward to it:
/// to a `ThreadingMixIn` or a `ForkingMixIn`, whether the server is a `ThreadingTCPServer` or a
/// `TCPServer(…, concurrency: ThreadingMixIn())`. On a server whose concurrency lacks the
/// attribute, setting it changes nothing (as setting it on a plain Python `TCPServer` does).
extension BaseServer {
    /// Threads the server does not wait for on close (Python's `ThreadingMixIn.daemon_threads`,
    /// false).
    public var daemonThreads: Bool {
        get { (concurrency as? ThreadingMixIn)?.daemonThreads ?? false }
        set { (concurrency as? ThreadingMixIn)?.daemonThreads = newValue }
    }

    /// Whether `serverClose()` waits for the request threads or children (Python's
    /// `block_on_close`, true). Thread pools and event loops always wait.
    public var blockOnClose: Bool {
        get {
            if let threading = concurrency as? ThreadingMixIn { return threading.blockOnClose }
            if let forking = concurrency as? ForkingMixIn { return forking.blockOnClose }
            return true
        }
        set {
            (concurrency as? ThreadingMixIn)?.blockOnClose = newValue
            (concurrency as? ForkingMixIn)?.blockOnClose = newValue
        }
    }

    /// The most children alive at once (Python's `ForkingMixIn.max_children`, 40); 0 when the
    /// server does not fork.
    public var maxChildren: Int {
        get { (concurrency as? ForkingMixIn)?.maxChildren ?? 0 }
        set { (concurrency as? ForkingMixIn)?.maxChildren = newValue }
    }

    /// The children not yet reaped (Python's `active_children`); empty when the server does not fork.
    public var activeChildren: Set<pid_t> { (concurrency as? ForkingMixIn)?.activeChildren ?? [] }

    /// Reaps finished children; with `blocking`, waits for all (Python's `collect_children`).
    public func collectChildren(blocking: Bool = false) {
        (concurrency as? ForkingMixIn)?.collectChildren(blocking: blocking)
    }
}
