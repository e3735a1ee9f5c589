// Where a request runs: the strategy a server composes in place of Python's mix-in classes.

/// Decides where requests run. `SynchronousRequests` runs them in the loop's thread,
/// `ThreadingMixIn` in a thread each, `ForkingMixIn` in a child process each,
/// `ThreadPoolMixIn` in a bounded pool of threads.
///
/// A model with bounded room (`ThreadPoolMixIn`, `EventLoopMixIn`) refuses a request it has no
/// room for by throwing `RequestRefused` from `processRequest`; the server then closes the request
/// unserved and reports the error to `handleError`.
public protocol RequestConcurrency: AnyObject, Sendable {
    /// Called by the server's loop before each `getRequest()` (the accept on a stream listener,
    /// the receive on a datagram one). A model may wait here for room, so that another process
    /// serving the same listener takes the request meanwhile (`ThreadPoolMixIn.acceptWait`).
    /// Not in Python's socketserver; the default does nothing.
    func beforeAccept(_ server: BaseServer)
    /// Runs `request`: calls `server.finishRequest` and then `server.shutdownRequest` somewhere,
    /// or throws (`RequestRefused` when the model has no room for it).
    func processRequest(_ request: Request, server: BaseServer) throws
    /// Called once per loop iteration.
    func serviceActions(_ server: BaseServer)
    /// Called when `handleRequest()` times out.
    func handleTimeout(_ server: BaseServer)
    /// Called by `serverClose()`: wait for, or let go of, running requests.
    func serverClose(_ server: BaseServer)
    /// Called by `serveForever` before it waits for requests, and again after each wake: true if
    /// the model accepts the server's requests itself from now on (`EventLoopMixIn` accepts on its
    /// loop's thread, in batches, running each through the server's pipeline), so that the
    /// server's loop only waits for shutdown. Not in Python's socketserver; the default is false.
    func startAccepting(_ server: BaseServer) throws -> Bool
    /// Called as `serveForever` returns, after `startAccepting` said true: once it returns, the
    /// model takes no more requests from the server.
    func stopAccepting(_ server: BaseServer)
}

extension RequestConcurrency {
    public func beforeAccept(_ server: BaseServer) {}
    public func serviceActions(_ server: BaseServer) {}
    public func handleTimeout(_ server: BaseServer) {}
    public func serverClose(_ server: BaseServer) {}
    public func startAccepting(_ server: BaseServer) throws -> Bool { false }
    public func stopAccepting(_ server: BaseServer) {}
}

/// Thrown by a model's `processRequest` when it has no room for the request: the server closes the
/// request unserved and passes this error to `handleError`. Python's socketserver has no bounded
/// models and so no such error.
public struct RequestRefused: Error, Equatable, CustomStringConvertible {
    public enum Reason: Sendable, Equatable {
        /// `ThreadPoolMixIn`: every thread is busy and `queueLimit` requests already wait.
        case queueFull(queueLimit: Int)
        /// `EventLoopMixIn`: `maxConnections` connections are open.
        case connectionsFull(maxConnections: Int)
        /// `EventLoopMixIn`: `serverClose()` is running, whatever the count.
        case closing
    }

    public let reason: Reason

    public init(_ reason: Reason) { self.reason = reason }

    public var description: String {
        switch reason {
        case .queueFull(let queueLimit): return "thread pool queue is full (\(queueLimit) waiting); request refused"
        case .connectionsFull(let maxConnections): return "event loop is full (\(maxConnections) connections); connection refused"
        case .closing: return "event loop is closing; connection refused"
        }
    }
}

/// Runs each request to completion in the serving thread (Python's plain `TCPServer`).
/// An error from the handler reaches `handleError` through the loop.
public final class SynchronousRequests: RequestConcurrency {
    public init() {}

    public func processRequest(_ request: Request, server: BaseServer) throws {
        try server.finishRequest(request)
        server.endRequest(request)
    }
}
