// The handler an event loop runs (EventLoopMixIn).
#if canImport(Glibc)
import Glibc
#endif

/// A stream handler for `EventLoopMixIn`. Unlike a `BaseRequestHandler` it never touches the
/// socket and must never block: the loop calls `received` with the bytes that arrived, the handler
/// appends its reply to `output`, and the loop sends it without blocking. One instance serves one
/// connection, on the loop's thread only.
///
/// Return false from `received` to end the connection once `output` has been sent. A thrown error
/// closes the connection (what is in `output` is dropped) and reaches
/// `server.handleError(_:request:)`. When the client closes its side, the loop sends what is
/// pending and closes; the handler is not told.
public protocol EventStreamHandler: AnyObject, SendableMetatype {
    /// Called on the loop's thread when the loop takes the connection over.
    init(clientAddress: SocketAddress, server: BaseServer)
    /// Called once, before anything is received: append what the server says first (a greeting,
    /// RFC 867's daytime line) to `output`; return whether to go on reading. The default says
    /// nothing and goes on. (As with any protocol default, a subclass of a class that relies on
    /// the default cannot override it: declare it in the conforming class.)
    func connected(output: inout [UInt8]) throws -> Bool
    /// `bytes` is valid only during the call. Append the reply to `output`; return whether to go on.
    func received(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8]) throws -> Bool
    /// Called once when the loop is done with the handler: the connection is closed, or is being
    /// closed gracefully (nothing more is passed to the handler). The default does nothing.
    func closed()
}

extension EventStreamHandler {
    public func connected(output: inout [UInt8]) throws -> Bool { true }
    public func closed() {}
}
