// The Forking… and Threading… servers, by the names Python users know.
#if canImport(Glibc)
import Glibc
#endif

/// A server whose requests run in child processes; gives Python's ForkingMixIn attributes.
public protocol ForkingServer: BaseServer {}

extension ForkingServer {
    /// The server's forking concurrency (nil if it was replaced by another kind).
    public var forking: ForkingMixIn? { concurrency as? ForkingMixIn }
    /// The most children alive at once (Python's `max_children`).
    public var maxChildren: Int { get { forking?.maxChildren ?? 0 } set { forking?.maxChildren = newValue } }
    /// Whether `serverClose()` waits for the children (Python's `block_on_close`).
    public var blockOnClose: Bool { get { forking?.blockOnClose ?? false } set { forking?.blockOnClose = newValue } }
    /// The children not yet reaped (Python's `active_children`).
    public var activeChildren: Set<pid_t> { forking?.activeChildren ?? [] }
    /// Reaps finished children; with `blocking`, waits for all (Python's `collect_children`).
    public func collectChildren(blocking: Bool = false) { forking?.collectChildren(blocking: blocking) }
}

// Python's ForkingTCPServer, ForkingUDPServer, ForkingUnixStreamServer, ForkingUnixDatagramServer.
open class ForkingTCPServer: TCPServer, ForkingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ForkingMixIn() } }
open class ForkingUDPServer: UDPServer, ForkingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ForkingMixIn() } }
open class ForkingUnixStreamServer: UnixStreamServer, ForkingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ForkingMixIn() } }
open class ForkingUnixDatagramServer: UnixDatagramServer, ForkingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ForkingMixIn() } }

/// A server whose requests run in threads; gives Python's ThreadingMixIn attributes.
public protocol ThreadingServer: BaseServer {}

extension ThreadingServer {
    /// The server's threading concurrency (nil if it was replaced by another kind).
    public var threading: ThreadingMixIn? { concurrency as? ThreadingMixIn }
    /// Threads the server does not wait for on close (Python's `daemon_threads`).
    public var daemonThreads: Bool { get { threading?.daemonThreads ?? false } set { threading?.daemonThreads = newValue } }
    /// Whether `serverClose()` joins the threads (Python's `block_on_close`).
    public var blockOnClose: Bool { get { threading?.blockOnClose ?? false } set { threading?.blockOnClose = newValue } }
}

// Python's ThreadingTCPServer, ThreadingUDPServer, ThreadingUnixStreamServer, ThreadingUnixDatagramServer.
open class ThreadingTCPServer: TCPServer, ThreadingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ThreadingMixIn() } }
open class ThreadingUDPServer: UDPServer, ThreadingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ThreadingMixIn() } }
open class ThreadingUnixStreamServer: UnixStreamServer, ThreadingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ThreadingMixIn() } }
open class ThreadingUnixDatagramServer: UnixDatagramServer, ThreadingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ThreadingMixIn() } }
