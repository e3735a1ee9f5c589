// The thread of an EventLoopMixIn: epoll over its connections, reads, handler calls, writes.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

/// The loop behind `EventLoopMixIn`. Its epoll descriptor and eventfd live as long as it does;
/// everything else is touched by the loop's thread only.
final class EventLoop: @unchecked Sendable {
    let wakeup: Wakeup
    let epoll: Int32
    let owner: EventLoopMixIn
    private var connections: [Int32: EventConnection] = [:]
    /// Connections handed over, taken in at each turn.
    var incoming: [(Request, BaseServer)] = []
    /// The server whose listener this loop accepts on, if any, and whether it is in the epoll set.
    var listening: TCPServer?
    var listenerWatched = false
    /// After a failed accept: until when accepting pauses (monotonic ns; 0 = not paused).
    var acceptPausedUntil: UInt64 = 0
    /// Set once the loop has let go of a listener `stopAccepting` asked it to (and when it ends).
    let acceptStopped = Event(set: true)
    private var draining = false
    /// While draining: from when a connection with nothing to send is ended (monotonic ns).
    private var drainDeadline = UInt64.max
    /// The earliest moment a connection may have been idle for `idleTimeout` (monotonic ns).
    var nextIdleCheck = UInt64.max
    private static let wakeupTag = UInt64.max
    private static let readSize = 64 * 1024
    /// Reads per connection per readiness report, so one busy client does not starve the others.
    private static let readsPerTurn = 8
    /// How long a graceful end waits for the client to close its side (see `end`).
    static let lingerNanoseconds: UInt64 = 2_000_000_000

    init(owner: EventLoopMixIn) throws(SocketError) {
        self.owner = owner
        wakeup = try Wakeup()
        epoll = cssd_epoll_create()
        guard epoll >= 0 else { throw .last("epoll_create1") }
        guard cssd_epoll_ctl(epoll, 0, wakeup.fd, CSSD_EPOLLIN, Self.wakeupTag) == 0 else {
            let error = SocketError.last("epoll_ctl")
            Glibc.close(epoll)
            throw error
        }
    }

    deinit { Glibc.close(epoll) }

    /// Runs until the owner closes and every connection has ended, or until epoll fails (then
    /// every connection is reported to `handleError` and closed, and the owner starts a new loop
    /// for the next connection).
    func run() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readSize, alignment: 16)
        defer { buffer.deallocate() }
        var tags = [UInt64](repeating: 0, count: 256)
        var events = [UInt32](repeating: 0, count: 256)
        defer { listen(on: nil) }
        while true {
            let closing = takeTurn()
            if closing && !draining { drain() }
            if draining && connections.isEmpty { return }

            let count: Int32
            do {
                // Each try (again after an interruption) waits until the next idle check at most.
                count = try retryingOnInterrupt {
                    cssd_epoll_wait(epoll, &tags, &events, Int32(tags.count), idleCheckTimeout())
                }
            } catch {
                // Not expected (EBADF, EINVAL): report and close every connection rather than spin.
                let error = SocketError.system(call: "epoll_wait", errno: error.rawValue)
                for connection in Array(connections.values) {
                    // A lingering one has had its reply; its end is no error.
                    if !connection.lingering { connection.server.handleError(error, request: connection.request) }
                    close(connection)
                }
                return
            }
            let now = monotonicNanoseconds()
            for index in 0..<Int(count) {
                if tags[index] == Self.wakeupTag {
                    wakeup.drain()
                } else if tags[index] == Self.listenerTag {
                    if let listening {
                        acceptBatch(listening, now: now)
                        _ = takeTurn()  // the connections just accepted
                    }
                } else if let connection = connections[Int32(truncatingIfNeeded: tags[index])] {
                    serve(connection, events: events[index], buffer: buffer, now: now)
                }
            }
            if now >= nextIdleCheck || draining { sweep(now: now) }
        }
    }

    /// epoll_wait's timeout: until the next idle check (-1 when none is due).
    private func idleCheckTimeout() -> Int32 {
        guard nextIdleCheck != .max else { return -1 }
        let now = monotonicNanoseconds()
        return nextIdleCheck <= now ? 0 : pollMilliseconds(.nanoseconds(Int64(clamping: nextIdleCheck - now)))
    }

    /// Takes a handed-over connection into the loop.
    func register(_ request: Request, _ server: BaseServer) {
        let now = monotonicNanoseconds()
        do {
            let listener = server as? TCPServer
            if !(listener?.acceptsNonBlocking ?? false) { try request.socket.setNonBlockingFlag(true) }
            if owner.noDelay && request.socket.family != .unix && !(listener?.acceptsNoDelay ?? false) {
                try? request.socket.setOption(.tcpNoDelay, true)
            }
            let handler = owner.handlerType.init(clientAddress: request.clientAddress, server: server)
            let connection = EventConnection(request: request, server: server, handler: handler, now: now)
            guard cssd_epoll_ctl(epoll, 0, connection.fd, CSSD_EPOLLIN, UInt64(UInt32(bitPattern: connection.fd))) == 0 else {
                throw SocketError.last("epoll_ctl")
            }
            connection.interest = CSSD_EPOLLIN
            connections[connection.fd] = connection
            if let idle = idleNanoseconds { nextIdleCheck = min(nextIdleCheck, now + idle) }
            greet(connection, now: now)
        } catch {
            server.handleError(error, request: request)
            server.endRequest(request)
            owner.closed()
        }
    }

    /// Lets the handler speak first (`connected`), then waits for what the connection needs next.
    private func greet(_ connection: EventConnection, now: UInt64) {
        do {
            if try !connection.handler.connected(output: &connection.output) { connection.reading = false }
            if connection.hasOutput { try connection.flush(now: now) }
        } catch {
            connection.server.handleError(error, request: connection.request)
            close(connection)
            return
        }
        update(connection, now: now)
    }

    /// Handles one readiness report: sends what is pending, reads (unless output is still pending),
    /// then registers for what the connection waits for next, or ends it.
    private func serve(_ connection: EventConnection, events: UInt32, buffer: UnsafeMutableRawBufferPointer, now: UInt64) {
        if connection.lingering {
            discard(connection, buffer: buffer)
            return
        }
        do {
            if connection.hasOutput { try connection.flush(now: now) }
            if connection.reading && !connection.hasOutput
                && events & (CSSD_EPOLLIN | CSSD_EPOLLHUP | CSSD_EPOLLERR) != 0 {
                try read(connection, buffer: buffer, now: now)
            }
        } catch {
            connection.server.handleError(error, request: connection.request)
            close(connection)
            return
        }
        if draining && now >= drainDeadline && !connection.hasOutput {
            end(connection, now: now)  // its reply is out; it gets no further requests
            return
        }
        update(connection, now: now)
    }

    private func read(_ connection: EventConnection, buffer: UnsafeMutableRawBufferPointer, now: UInt64) throws {
        var reads = 0
        while connection.reading && reads < Self.readsPerTurn {
            let count: Int
            do {
                count = try retryingOnInterrupt { Glibc.recv(connection.fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT)) }
            } catch .wouldBlock {
                return
            } catch {
                throw SocketError.system(call: "recv", errno: error.rawValue)
            }
            if count > 0 {
                reads += 1
                connection.request.socket.countReceived(count)
                connection.lastActivity = now
                let goOn = try connection.handler.received(
                    UnsafeRawBufferPointer(rebasing: buffer[..<count]), output: &connection.output)
                if !goOn { connection.reading = false }
                if connection.hasOutput {
                    try connection.flush(now: now)
                    if connection.hasOutput { return }  // backpressure: wait until the client reads
                }
                // A short read took what had arrived: epoll (level-triggered) reports the rest,
                // and a read now would most likely fail with EAGAIN.
                if count < buffer.count { return }
            } else {
                connection.reading = false
                connection.peerClosed = true
            }
        }
    }

    /// Waits for output room while output is pending, for input while reading; ends when done.
    private func update(_ connection: EventConnection, now: UInt64) {
        if connection.hasOutput {
            watch(connection, for: CSSD_EPOLLOUT)
        } else if connection.reading {
            watch(connection, for: CSSD_EPOLLIN)
        } else {
            end(connection, now: now)
        }
    }

    /// Registers the connection for `wanted` events; on failure reports and closes it.
    @discardableResult
    private func watch(_ connection: EventConnection, for wanted: UInt32) -> Bool {
        guard wanted != connection.interest else { return true }
        if cssd_epoll_ctl(epoll, 1, connection.fd, wanted, UInt64(UInt32(bitPattern: connection.fd))) != 0 {
            connection.server.handleError(SocketError.last("epoll_ctl"), request: connection.request)
            close(connection)
            return false
        }
        connection.interest = wanted
        return true
    }

    /// Ends a connection that has nothing left to send. If the client has not closed its side,
    /// closing at once could lose the last reply: bytes the client still sends, or sent and we
    /// did not read, make the kernel answer with a reset, and a reset can discard the reply
    /// before the client reads it. So shut our sending side (the client reads end of file after
    /// the reply) and read and drop what comes until the client closes, at most
    /// `lingerNanoseconds` (nginx's lingering close).
    private func end(_ connection: EventConnection, now: UInt64) {
        connection.finishHandler()
        guard !connection.peerClosed, (try? connection.request.socket.shutdown(.write)) != nil else {
            close(connection)
            return
        }
        connection.reading = false
        connection.lingerDeadline = now + Self.lingerNanoseconds
        if watch(connection, for: CSSD_EPOLLIN) { nextIdleCheck = min(nextIdleCheck, connection.lingerDeadline) }
    }

    /// A lingering connection is readable: drop what arrived; close at end of file or error.
    private func discard(_ connection: EventConnection, buffer: UnsafeMutableRawBufferPointer) {
        for _ in 0..<Self.readsPerTurn {
            do {
                let count = try retryingOnInterrupt { Glibc.recv(connection.fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT)) }
                connection.request.socket.countReceived(count)
                if count > 0 { continue }
            } catch .wouldBlock {
                return
            } catch {}
            close(connection)  // end of file, or the client reset: either way it is done
            return
        }
    }

    private func close(_ connection: EventConnection) {
        connection.finishHandler()
        _ = cssd_epoll_ctl(epoll, 2, connection.fd, 0, 0)
        if connection.peerClosed && !connection.hasOutput { connection.request.socket.peerEnded.store(true, ordering: .relaxed) }
        connections[connection.fd] = nil
        connection.server.endRequest(connection.request)
        owner.closed()
    }

    /// The owner is closing. Until `closeGrace` has passed, connections are served as before
    /// (a request already on its way is answered); then each is ended as soon as it has nothing
    /// to send, so a client that keeps sending cannot hold the close.
    private func drain() {
        draining = true
        drainDeadline = monotonicNanoseconds() + owner.closeGrace.clampedNanoseconds
        nextIdleCheck = 0
    }

    private var idleNanoseconds: UInt64? { owner.idleTimeout?.clampedNanoseconds }

    /// Closes connections silent for `idleTimeout` (reported as a timeout) and lingering ones past
    /// their deadline; while draining, ends those with nothing to send once `closeGrace` has
    /// passed. Notes when the next one could be due.
    private func sweep(now: UInt64) {
        let idle = idleNanoseconds
        var next = UInt64.max
        for connection in Array(connections.values) {
            if connection.lingering {
                if connection.lingerDeadline <= now { close(connection) } else { next = min(next, connection.lingerDeadline) }
                continue
            }
            if let idle {
                let deadline = connection.lastActivity + idle
                if deadline <= now {
                    connection.server.handleError(SocketError.timeout(call: "recv"), request: connection.request)
                    close(connection)
                    continue
                }
                next = min(next, deadline)
            }
            if draining && !connection.hasOutput {
                if drainDeadline <= now {
                    end(connection, now: now)
                    if connection.lingering { next = min(next, connection.lingerDeadline) }
                    continue
                }
                next = min(next, drainDeadline)
            }
        }
        nextIdleCheck = next
        if acceptPausedUntil != 0 {
            if acceptPausedUntil <= now {
                acceptPausedUntil = 0
                watchListener(now: now)  // may pause again, and note when
            } else {
                nextIdleCheck = min(nextIdleCheck, acceptPausedUntil)
            }
        }
    }
}
