// The event loop's side of accepting (EventLoopMixIn.startAccepting): the listener in its epoll
// set, batches of accepts through the server's pipeline, the pause after a failed accept.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

extension EventLoop {
    static let listenerTag = UInt64.max - 1
    /// Connections accepted per readiness report of the listener, so a stream of new clients
    /// does not starve the open connections.
    static let acceptsPerTurn = 64
    static let acceptPauseNanoseconds: UInt64 = 100_000_000

    /// Takes in the connections handed over and the listener to accept on; returns whether the
    /// owner is closing.
    func takeTurn() -> Bool {
        let turn = owner.takeTurn(into: &incoming)
        for (request, server) in incoming { register(request, server) }
        incoming.removeAll(keepingCapacity: true)
        if turn.listener !== listening { listen(on: turn.listener) }
        if turn.stopPending { acceptStopped.set() }
        return turn.closing
    }

    /// Accepts on `listener` from now on (nil: on none). Its server's `shutdown` from this
    /// thread then only asks, as from its own loop's thread.
    func listen(on listener: TCPServer?) {
        if let old = listening {
            if listenerWatched { _ = cssd_epoll_ctl(epoll, 2, old.fileno(), 0, 0) }
            old.acceptingThread.withLock { $0 = nil }
        }
        listening = listener
        listenerWatched = false
        acceptPausedUntil = 0
        guard let listener else { return }
        let me = pthread_self()
        listener.acceptingThread.withLock { $0 = me }
        watchListener(now: monotonicNanoseconds())
    }

    /// Puts the listener in the epoll set, EPOLLEXCLUSIVE where the kernel has it (4.5 and later).
    func watchListener(now: UInt64) {
        guard let listening else { return }
        let fd = listening.fileno()
        var added = cssd_epoll_ctl(epoll, 0, fd, CSSD_EPOLLIN | CSSD_EPOLLEXCLUSIVE, Self.listenerTag) == 0
        if !added && errno == EINVAL { added = cssd_epoll_ctl(epoll, 0, fd, CSSD_EPOLLIN, Self.listenerTag) == 0 }
        if added {
            listenerWatched = true
        } else {
            listening.hooks?.acceptFailed(SocketError.last("epoll_ctl"), server: listening)
            pauseAccepting(now: now)
        }
    }

    /// After a failed accept: takes the listener out of the epoll set for 100 ms, so a lasting
    /// error (EMFILE) does not spin the loop while its connections are still served.
    private func pauseAccepting(now: UInt64) {
        if listenerWatched, let listening { _ = cssd_epoll_ctl(epoll, 2, listening.fileno(), 0, 0) }
        listenerWatched = false
        acceptPausedUntil = now + Self.acceptPauseNanoseconds
        nextIdleCheck = min(nextIdleCheck, acceptPausedUntil)
    }

    /// Accepts what is waiting, up to `acceptsPerTurn`, each through the server's pipeline (whose
    /// `processRequest` hands the connection to this loop). Stops once a shutdown is asked for.
    func acceptBatch(_ server: TCPServer, now: UInt64) {
        var taken = 0
        defer { if taken > 0 { rearmListener(now: now) } }
        for _ in 0..<Self.acceptsPerTurn {
            guard !server.isShutdownRequested else { return }
            switch server.takeRequest() {
            case .none:
                return
            case .taken:
                taken += 1
            case .failed(let error):
                server.hooks?.acceptFailed(error, server: server)
                pauseAccepting(now: now)
                return
            }
        }
    }

    /// Takes the listener out of the epoll set and puts it back, which moves this loop's waiter
    /// to the end of the listener's wait queue: the kernel wakes the first idle exclusive waiter,
    /// so the next connection goes to another idle process, not this one again (round robin;
    /// without it, one process takes nearly every connection while the others sleep).
    private func rearmListener(now: UInt64) {
        guard listenerWatched, let listening else { return }
        _ = cssd_epoll_ctl(epoll, 2, listening.fileno(), 0, 0)
        listenerWatched = false
        watchListener(now: now)
    }
}
