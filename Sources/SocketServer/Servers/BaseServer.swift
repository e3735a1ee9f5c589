// BaseServer: the request loop every server shares (Python's socketserver.BaseServer).
#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The base of all servers. It owns the loop (`serveForever`, `handleRequest`, `shutdown`) and the
/// request pipeline: `getRequest` → `verifyRequest` → `processRequest` (→ `finishRequest`, which runs
/// the handler) → `shutdownRequest`. Subclasses supply the socket; the `concurrency` decides where
/// requests run (this thread, a thread, a child process), and is asked before each `getRequest`
/// (`beforeAccept`). The `hooks` add their owner's code to the pipeline's steps without a subclass.
open class BaseServer: @unchecked Sendable {
    /// The handler type instantiated for each request (Python's `RequestHandlerClass`).
    public let requestHandlerType: BaseRequestHandler.Type
    /// The address the server is bound to; after binding, the real one (port 0 shows the chosen port).
    public internal(set) var serverAddress: SocketAddress
    /// How long `handleRequest()` waits before calling `handleTimeout()`; nil waits forever.
    public var timeout: Duration?
    /// Where requests run. Set it before serving.
    public var concurrency: any RequestConcurrency
    /// Code added to the pipeline's steps (see `ServerHooks`); nil adds none. Set it before serving.
    public var hooks: (any ServerHooks)?

    let wakeup: Wakeup
    private let shutdownRequested = Atomic<Bool>(false)
    private let loopStopped = Event(set: true)
    private let loopThread = Mutex<pthread_t?>(nil)
    /// The thread of a concurrency that accepts for the loop (see `startAccepting`): `shutdown`
    /// from it only asks, as from the loop's own thread.
    let acceptingThread = Mutex<pthread_t?>(nil)

    public init(serverAddress: SocketAddress, handler: BaseRequestHandler.Type, concurrency: any RequestConcurrency) throws {
        self.serverAddress = serverAddress
        self.requestHandlerType = handler
        self.concurrency = concurrency
        self.wakeup = try Wakeup()
    }

    // MARK: Overridden by server kinds

    /// The descriptor the loop polls (Python's `fileno()`).
    open func fileno() -> Int32 { -1 }
    /// Called after binding (TCP: listen).
    open func serverActivate() throws {}
    /// Takes the next request if one is ready; nil if another process took it first.
    open func getRequest() throws -> Request? { nil }
    /// Ends a request after it was served (TCP: shut down and close the connection).
    open func shutdownRequest(_ request: Request) { closeRequest(request) }
    /// Ends a request the pipeline took: `shutdownRequest`, then the hooks' `ended`. The
    /// concurrency models end every request through it.
    public final func endRequest(_ request: Request) {
        shutdownRequest(request)
        hooks?.ended(request, server: self)
    }
    /// Releases a request's resources (TCP: close the connection).
    open func closeRequest(_ request: Request) {}

    /// Closes the server: its socket, and (per concurrency) waits for children or threads.
    open func serverClose() {
        concurrency.serverClose(self)
    }

    // MARK: The request pipeline

    /// Return false to refuse a request: it is closed without running the handler. The default
    /// asks the hooks (and accepts without them).
    open func verifyRequest(_ request: Request) -> Bool { hooks?.verify(request, server: self) ?? true }

    /// Runs the request according to `concurrency`, then tells the hooks how that went.
    open func processRequest(_ request: Request) throws {
        guard let hooks else { return try concurrency.processRequest(request, server: self) }
        do {
            try concurrency.processRequest(request, server: self)
        } catch {
            hooks.processed(request, error: error, server: self)
            throw error
        }
        hooks.processed(request, error: nil, server: self)
    }

    /// Instantiates the handler and runs it, between the hooks' `willHandle` and `didHandle`.
    open func finishRequest(_ request: Request) throws {
        try hooks?.willHandle(request, server: self)
        defer { hooks?.didHandle(request, server: self) }
        let handler = requestHandlerType.init(request: request, server: self)
        try handler.run()
    }

    /// Called when a handler throws. The default hands the error to the hooks or, without them,
    /// writes it and the client to stderr; the server goes on.
    open func handleError(_ error: any Error, request: Request) {
        guard let hooks else { return Self.writeRequestError(error, request) }
        hooks.failed(error, request: request, server: self)
    }

    /// The line `handleError` writes to stderr by default.
    static func writeRequestError(_ error: any Error, _ request: Request) {
        writeStandardError("socketserver: error processing request from \(request.clientAddress): \(error)")
    }

    /// Called when `handleRequest()` waited `timeout` with no request.
    open func handleTimeout() {
        concurrency.handleTimeout(self)
    }

    /// Called once per loop iteration of `serveForever` (forking servers reap children here); the
    /// hooks' `serviceActions` follows the concurrency's.
    open func serviceActions() {
        concurrency.serviceActions(self)
        hooks?.serviceActions(self)
    }

    /// Called when taking a request fails (for example EMFILE). The default tells the hooks, then
    /// waits up to 100 ms for a shutdown, so that a persistent error does not spin the loop.
    open func handleAcceptError(_ error: any Error) {
        hooks?.acceptFailed(error, server: self)
        _ = try? pollReadable([wakeup.fd], timeout: .milliseconds(100))
    }

    // MARK: The loop

    /// Serves requests until `shutdown()`. `pollInterval` bounds how long the loop sleeps between
    /// `serviceActions()`; shutdown wakes it at once regardless. When the concurrency accepts by
    /// itself (`startAccepting`: an event loop accepts in batches on its own thread), this loop only
    /// waits for shutdown and runs `serviceActions()`.
    public func serveForever(pollInterval: Duration = .milliseconds(500)) throws {
        loopStopped.clear()
        loopThread.withLock { $0 = pthread_self() }
        defer {
            wakeup.drain()
            shutdownRequested.store(false, ordering: .releasing)
            loopThread.withLock { $0 = nil }
            loopStopped.set()
        }
        let delegated = try concurrency.startAccepting(self)
        defer { if delegated { concurrency.stopAccepting(self) } }
        // When the concurrency accepts, the loop polls only the wakeup (poll skips a negative fd).
        let listener = delegated ? -1 : fileno()
        while !shutdownRequested.load(ordering: .acquiring) {
            let ready = try pollReadable(listener, wakeup.fd, timeout: pollInterval)
            if shutdownRequested.load(ordering: .acquiring) { break }
            // A wakeup without the flag (a forked child's requestShutdown sets only its own copy of
            // the flag; a shutdown that landed as the last loop ended) would make every poll return
            // at once: clear it. A shutdown signalled after the check above still stops the loop,
            // because its flag is set before its signal.
            if ready.1 { wakeup.drain() }
            if delegated { _ = try concurrency.startAccepting(self) }  // again: a loop that failed is replaced
            if ready.0 { handleWaitingRequests() } else { serviceActions() }
        }
    }

    /// Stops `serveForever` and waits until it has returned. From another thread it blocks until the
    /// loop ends; from the loop's own thread (inside a handler) it only asks, so it cannot deadlock.
    public func shutdown() {
        shutdownRequested.store(true, ordering: .releasing)
        wakeup.signal()
        let me = pthread_self()
        let onLoopThread = loopThread.withLock { thread in thread.map { pthread_equal($0, me) != 0 } ?? false }
            || acceptingThread.withLock { thread in thread.map { pthread_equal($0, me) != 0 } ?? false }
        if !onLoopThread { loopStopped.wait() }
    }

    /// Asks `serveForever` to stop and returns at once, without waiting. It only stores a flag and
    /// writes to an eventfd, so it is safe to call from a signal handler.
    public func requestShutdown() {
        shutdownRequested.store(true, ordering: .releasing)
        wakeup.signal()
    }

    /// True from `shutdown()` or `requestShutdown()` until `serveForever` has returned: a
    /// concurrency that accepts by itself stops taking requests.
    var isShutdownRequested: Bool { shutdownRequested.load(ordering: .acquiring) }

    /// Handles one request, waiting at most `timeout` (or the socket's own timeout if shorter);
    /// if none comes, calls `handleTimeout()`.
    public func handleRequest() throws {
        let limit = [timeout, socketTimeout].compactMap { $0 }.min()
        let deadline = limit.map { ContinuousClock.now.advanced(by: $0) }
        while true {
            let left = deadline.map { ContinuousClock.now.duration(to: $0) }
            if let left, left <= .zero { handleTimeout(); return }
            if try pollReadable([fileno()], timeout: left)[0] {
                handleRequestNoBlock()
                return
            }
        }
    }

    /// The listening socket's own timeout, for `handleRequest`; servers with a socket override it.
    open var socketTimeout: Duration? { nil }

    /// Takes one ready request through verify and process; errors go to `handleError`, a failed
    /// accept to `handleAcceptError`.
    func handleRequestNoBlock() {
        if case .failed(let error) = takeRequest() { handleAcceptError(error) }
    }

    /// Takes the requests waiting, up to 16, with `serviceActions()` after each (as after each
    /// turn of the loop: a forking server waits there while it has `maxChildren`): under load the
    /// next one is often queued by the time the last is handled, and taking it without polling
    /// first saves a system call.
    private func handleWaitingRequests() {
        for _ in 0..<16 {
            let taken = takeRequest()
            serviceActions()
            switch taken {
            case .none: return
            case .taken: if shutdownRequested.load(ordering: .acquiring) { return }
            case .failed(let error): return handleAcceptError(error)
            }
        }
    }

    /// What `takeRequest` found.
    enum Taken {
        /// No request was waiting (another process took it first, or none came).
        case none
        /// A request went through the pipeline (served, handed over, refused or failed).
        case taken
        /// `getRequest` threw.
        case failed(any Error)
    }

    /// Takes one ready request through the pipeline: `getRequest`, the hooks' `accepted`,
    /// `verifyRequest`, `processRequest`; errors after the accept go to `handleError`.
    func takeRequest() -> Taken {
        let request: Request
        concurrency.beforeAccept(self)
        do {
            guard let ready = try getRequest() else { return .none }
            request = hooks?.accepted(ready, server: self) ?? ready
        } catch {
            return .failed(error)
        }
        guard verifyRequest(request) else {
            endRequest(request)
            return .taken
        }
        do {
            try processRequest(request)
        } catch {
            handleError(error, request: request)
            endRequest(request)
        }
        return .taken
    }

    /// Runs `body` with the server and closes it afterwards, whatever happens (Python's `with server:`).
    public func closing<R>(_ body: (BaseServer) throws -> R) rethrows -> R {
        defer { serverClose() }
        return try body(self)
    }
}
