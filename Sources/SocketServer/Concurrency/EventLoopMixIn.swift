// EventLoopMixIn: one thread serves many connections with epoll (not in CPython's socketserver).
#if canImport(Glibc)
import Glibc
#endif

/// Serves every accepted connection on one event-loop thread (epoll), with an `EventStreamHandler`
/// per connection instead of the server's blocking `BaseRequestHandler`: thousands of persistent
/// connections cost one thread and a buffer each, not a thread or a process each.
///
/// Under `serveForever` the loop accepts by itself (`startAccepting`): the listener is in its epoll
/// set (EPOLLEXCLUSIVE, so processes sharing it are woken one at a time), and each time it is
/// ready the loop accepts until none is waiting (at most 64 a turn), each connection through the
/// server's pipeline (the hooks, `verifyRequest`, `processRequest`) on the loop's thread, while
/// the server's own loop only waits for shutdown. An accept that fails (EMFILE…) goes to the
/// hooks' `acceptFailed` (not `handleAcceptError`, which would block every connection) and pauses
/// accepting for 100 ms. Otherwise (`handleRequest`, a request handed over by other code)
/// `processRequest` takes the connection over (the server does not close it) and hands it to the
/// loop, started on first use. The loop reads what is available, passes it to the handler and
/// sends the handler's output without blocking; while output is pending it stops reading that
/// connection (backpressure) until the client has taken it. At end of file it sends what is pending
/// and closes. A connection silent (nothing received or sent) for `idleTimeout` is closed and
/// reported to `handleError` as `SocketError.timeout(call: "recv")`. Beyond `maxConnections`
/// open at once, `processRequest` throws `RequestRefused` (`.connectionsFull`; `.closing` while
/// `serverClose` runs, whatever the count) and the server closes the new connection.
/// `finishRequest` is not called: the requests never run the server's `requestHandlerType`.
///
/// A connection ends gracefully: when the loop closes it (the handler is done, or `serverClose`)
/// while the client has not closed its side, it shuts its sending side and reads and drops what
/// the client still sends until the client closes (at most 2 s), so no reset destroys the last
/// reply before the client reads it.
///
/// `serverClose()` stops taking connections and serves the open ones as before for `closeGrace`
/// (a request already on its way is answered, as the other concurrencies finish in-flight
/// requests); then it ends each connection as soon as it has nothing left to send, and joins the
/// loop's thread when all have ended. The server may serve again afterwards. A client that never
/// reads its replies holds `serverClose` until `idleTimeout` (forever without one).
public final class EventLoopMixIn: RequestConcurrency, @unchecked Sendable {
    /// The handler each connection gets.
    public let handlerType: any EventStreamHandler.Type
    /// The most connections open at once (at least 1).
    public let maxConnections: Int
    /// How long a connection may stay silent before it is closed; nil: forever.
    public let idleTimeout: Duration?
    /// Turns Nagle's algorithm off on TCP connections (replies go out as soon as they are ready).
    /// The connections the loop accepts itself inherit it from the listener, on which
    /// `startAccepting` sets it once (and which keeps it).
    public let noDelay: Bool
    /// After `serverClose()` began, how long connections are served as before; then each is
    /// ended as soon as it has nothing left to send.
    public let closeGrace: Duration

    struct State {
        var pending: [(Request, BaseServer)] = []
        var open = 0
        var closing = false
        var loop: EventLoop? = nil
        var thread: PosixThread? = nil
        /// The server whose listener the loop accepts on (`startAccepting`), or nil.
        var accepting: TCPServer? = nil
        /// `stopAccepting` waits for the loop to let the listener go.
        var stopPending = false
    }

    /// What the loop is to do next, taken at the start of each of its turns.
    struct Turn {
        var closing: Bool
        var listener: TCPServer?
        var stopPending: Bool
    }
    let state = PosixMutex(State())

    public init(handler: any EventStreamHandler.Type, maxConnections: Int = 1024, idleTimeout: Duration? = nil,
                closeGrace: Duration = .milliseconds(500), noDelay: Bool = true) {
        handlerType = handler
        self.maxConnections = max(1, maxConnections)
        self.idleTimeout = idleTimeout.map { max($0, .milliseconds(1)) }
        self.closeGrace = max(closeGrace, .zero)
        self.noDelay = noDelay
    }

    /// Connections open or handed over and not yet closed.
    public var connectionCount: Int { state.withLock { $0.open } }

    /// True while `serverClose` runs: new connections are refused, open ones are being ended.
    public var isClosing: Bool { state.withLock { $0.closing } }

    public func processRequest(_ request: Request, server: BaseServer) throws {
        let loop: EventLoop? = try state.withLock { state in
            if state.closing || state.open >= maxConnections {
                throw RequestRefused(state.closing ? .closing : .connectionsFull(maxConnections: maxConnections))
            }
            let loop = try startLoop(&state)
            state.pending.append((request, server))
            state.open += 1
            // The loop's own accepts are taken in right after the batch: no wakeup needed.
            let onLoopThread = state.thread.map { pthread_equal($0.id, pthread_self()) != 0 } ?? false
            return onLoopThread ? nil : loop
        }
        loop?.wakeup.signal()
    }

    /// Under the lock: the loop, started on first use.
    private func startLoop(_ state: inout State) throws -> EventLoop {
        if let loop = state.loop { return loop }
        let loop = try EventLoop(owner: self)
        state.thread = try PosixThread.start { [self] in
            loop.run()
            loopEnded(loop)
        }
        state.loop = loop
        return loop
    }

    /// The loop accepts on a stream server's listener from now on (a datagram server, or one
    /// without a socket, is left to its own loop).
    public func startAccepting(_ server: BaseServer) throws -> Bool {
        guard let listener = server as? TCPServer, listener.socket.type == .stream, listener.fileno() >= 0 else {
            return false
        }
        listener.acceptsNonBlocking = true
        // Connections inherit TCP_NODELAY from the listener: set once here, not once per connection.
        if noDelay, listener.socket.family != .unix, !listener.acceptsNoDelay {
            listener.acceptsNoDelay = (try? listener.socket.setOption(.tcpNoDelay, true)) != nil
        }
        let loop: EventLoop? = try state.withLock { state in
            if state.accepting === listener, state.loop != nil { return nil }
            state.accepting = listener
            return try startLoop(&state)
        }
        loop?.wakeup.signal()
        return true
    }

    /// Waits until the loop has let the listener go (a batch under way ends first).
    public func stopAccepting(_ server: BaseServer) {
        let loop: EventLoop? = state.withLock { state in
            guard state.accepting === server else { return nil }
            state.accepting = nil
            guard let loop = state.loop else { return nil }
            state.stopPending = true
            loop.acceptStopped.clear()
            return loop
        }
        guard let loop else { return }
        loop.wakeup.signal()
        loop.acceptStopped.wait()
    }

    public func serverClose(_ server: BaseServer) {
        let (loop, thread) = state.withLock { state in
            state.closing = true
            return (state.loop, state.thread)
        }
        loop?.wakeup.signal()
        thread?.join()
        state.withLock { state in
            state.loop = nil
            state.thread = nil
            state.closing = false
        }
    }

    /// For the loop: moves the connections handed over into `into`; says whether to close and
    /// which listener to accept on.
    func takeTurn(into list: inout [(Request, BaseServer)]) -> Turn {
        state.withLock { state in
            swap(&list, &state.pending)
            defer { state.stopPending = false }
            return Turn(closing: state.closing, listener: state.accepting, stopPending: state.stopPending)
        }
    }

    /// The loop's thread ended. Unless `serverClose` is joining it, the loop failed (epoll): forget
    /// it, so the next connection starts a new one, and close what was handed over meanwhile.
    private func loopEnded(_ loop: EventLoop) {
        loop.acceptStopped.set()  // a stopAccepting waiting for this loop waits no more
        let (orphans, thread, accepting): ([(Request, BaseServer)], PosixThread?, TCPServer?) = state.withLock { state in
            guard state.loop === loop else { return ([], nil, nil) }
            let orphans = state.pending
            state.pending = []
            state.open -= orphans.count
            // serverClose joins the thread and forgets the loop itself.
            guard !state.closing else { return (orphans, nil, nil) }
            defer { state.loop = nil; state.thread = nil }
            return (orphans, state.thread, state.accepting)
        }
        thread?.detach()
        accepting?.wakeup.signal()  // its serveForever starts a new loop (startAccepting)
        for (request, server) in orphans { server.endRequest(request) }
    }

    /// For the loop: a connection was closed.
    func closed() {
        state.withLock { $0.open -= 1 }
    }
}
