// ServerHooks: what a server's owner adds to the request pipeline without subclassing the server.

/// Code run at the steps of the request pipeline, composed into a server as `BaseServer.hooks`
/// instead of overriding its methods. Where Python adds such code with a mix-in class, which would
/// have to be written again for every server class in Swift, one hooks object serves a stream and
/// a datagram server alike, whatever their concurrency (as `RequestConcurrency` replaces Python's
/// concurrency mix-ins).
///
/// Each hook has a default that changes nothing. A hook runs where its step runs: `verify`,
/// `processed`, `acceptFailed` and `serviceActions` on the loop's thread; `willHandle`,
/// `didHandle` and `failed` where the request runs (the loop's thread, a pool thread, a forked
/// child). A server subclass that overrides a step without calling `super` skips its hook.
public protocol ServerHooks: AnyObject, Sendable {
    /// Right after `getRequest` took a request: the request the pipeline goes on with (the same,
    /// or one with a `context` attached for the later hooks).
    func accepted(_ request: Request, server: BaseServer) -> Request
    /// In `verifyRequest`: false refuses the request (it is closed unserved).
    func verify(_ request: Request, server: BaseServer) -> Bool
    /// In `processRequest`, once the concurrency took the request (`error` nil) or threw (for
    /// example `RequestRefused`, when it had no room).
    func processed(_ request: Request, error: (any Error)?, server: BaseServer)
    /// In `finishRequest`, before the handler runs. A throw fails the request (it reaches
    /// `handleError`) without running the handler or `didHandle`.
    func willHandle(_ request: Request, server: BaseServer) throws
    /// In `finishRequest`, after the handler ended, however it ended.
    func didHandle(_ request: Request, server: BaseServer)
    /// In `handleError`, in place of its line on stderr (which is this hook's default).
    func failed(_ error: any Error, request: Request, server: BaseServer)
    /// In `handleAcceptError`, before the server backs off.
    func acceptFailed(_ error: any Error, server: BaseServer)
    /// In `serviceActions`, after the concurrency's.
    func serviceActions(_ server: BaseServer)
    /// After `shutdownRequest` ended a request (served, refused or failed), where it ended: the
    /// loop's thread, a pool thread, the event loop, a forked child (whose parent only closes its copy).
    func ended(_ request: Request, server: BaseServer)
}

extension ServerHooks {
    public func accepted(_ request: Request, server: BaseServer) -> Request { request }
    public func ended(_ request: Request, server: BaseServer) {}
    public func verify(_ request: Request, server: BaseServer) -> Bool { true }
    public func processed(_ request: Request, error: (any Error)?, server: BaseServer) {}
    public func willHandle(_ request: Request, server: BaseServer) throws {}
    public func didHandle(_ request: Request, server: BaseServer) {}
    public func failed(_ error: any Error, request: Request, server: BaseServer) {
        BaseServer.writeRequestError(error, request)
    }
    public func acceptFailed(_ error: any Error, server: BaseServer) {}
    public func serviceActions(_ server: BaseServer) {}
}
