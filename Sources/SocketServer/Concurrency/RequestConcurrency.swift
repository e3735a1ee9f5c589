// Where a request runs: the strategy a server composes in place of Python's mix-in classes.

/// Decides where requests run. `SynchronousRequests` runs them in the loop's thread,
/// `ThreadingMixIn` in a thread each, `ForkingMixIn` in a child process each,
/// `ThreadPoolMixIn` in a bounded pool of threads.
public protocol RequestConcurrency: AnyObject, Sendable {
    /// Runs `request`: calls `server.finishRequest` and then `server.shutdownRequest` somewhere.
    func processRequest(_ request: Request, server: BaseServer) throws
    /// Called once per loop iteration.
    func serviceActions(_ server: BaseServer)
    /// Called when `handleRequest()` times out.
    func handleTimeout(_ server: BaseServer)
    /// Called by `serverClose()`: wait for, or let go of, running requests.
    func serverClose(_ server: BaseServer)
}

extension RequestConcurrency {
    public func serviceActions(_ server: BaseServer) {}
    public func handleTimeout(_ server: BaseServer) {}
    public func serverClose(_ server: BaseServer) {}
}

/// Runs each request to completion in the serving thread (Python's plain `TCPServer`).
/// An error from the handler reaches `handleError` through the loop.
public final class SynchronousRequests: RequestConcurrency {
    public init() {}

    public func processRequest(_ request: Request, server: BaseServer) throws {
        try server.finishRequest(request)
        server.shutdownRequest(request)
    }
}
