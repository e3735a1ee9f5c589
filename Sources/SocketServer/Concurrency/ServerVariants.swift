// The Forking… and Threading… servers, by the names Python users know. The mix-ins' attributes
// (daemonThreads, blockOnClose, maxChildren, …) are on every server: MixInAttributes.swift.
#if canImport(Glibc)
import Glibc
#endif

/// A server whose requests run in child processes (the `Forking…` classes).
public protocol ForkingServer: BaseServer {}

extension ForkingServer {
    /// The server's forking concurrency (nil if it was replaced by another kind).
    public var forking: ForkingMixIn? { concurrency as? ForkingMixIn }
}

// Python's ForkingTCPServer, ForkingUDPServer, ForkingUnixStreamServer, ForkingUnixDatagramServer.
open class ForkingTCPServer: TCPServer, ForkingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ForkingMixIn() } }
open class ForkingUDPServer: UDPServer, ForkingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ForkingMixIn() } }
open class ForkingUnixStreamServer: UnixStreamServer, ForkingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ForkingMixIn() } }
open class ForkingUnixDatagramServer: UnixDatagramServer, ForkingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ForkingMixIn() } }

/// A server whose requests run in threads (the `Threading…` classes).
public protocol ThreadingServer: BaseServer {}

extension ThreadingServer {
    /// The server's threading concurrency (nil if it was replaced by another kind).
    public var threading: ThreadingMixIn? { concurrency as? ThreadingMixIn }
}

// Python's ThreadingTCPServer, ThreadingUDPServer, ThreadingUnixStreamServer, ThreadingUnixDatagramServer.
open class ThreadingTCPServer: TCPServer, ThreadingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ThreadingMixIn() } }
open class ThreadingUDPServer: UDPServer, ThreadingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ThreadingMixIn() } }
open class ThreadingUnixStreamServer: UnixStreamServer, ThreadingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ThreadingMixIn() } }
open class ThreadingUnixDatagramServer: UnixDatagramServer, ThreadingServer, @unchecked Sendable { override open class func makeConcurrency() -> any RequestConcurrency { ThreadingMixIn() } }
