// The thread of an EventLoopMixIn: epoll over its connections, reads, handler calls, writes.
#if canImport(Glibc)
import Glibc
#endif
import CSocketServerShims

/// The loop behind `EventLoopMixIn`. Its epoll descriptor and eventfd live as long as it does;
/// everything else is touched by the loop's thread only.
final class EventLoop: @unchecked Sendable {
    let wakeup: Wakeup
    private let epoll: Int32
    private let owner: EventLoopMixIn
    private var connections: [Int32: EventConnection] = [:]
    private var draining = false
    /// The earliest moment a connection may have been idle for `idleTimeout` (monotonic ns).
    private var nextIdleCheck = UInt64.max
    private static let wakeupTag = UInt64.max
    private static let readSize = 64 * 1024
    /// Reads per connection per readiness report, so one busy client does not starve the others.
    private static let readsPerTurn = 8

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

    /// Runs until the owner closes and every connection has ended.
    func run() {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.readSize, alignment: 16)
        defer { buffer.deallocate() }
        var tags = [UInt64](repeating: 0, count: 256)
        var events = [UInt32](repeating: 0, count: 256)
        var incoming: [(Request, BaseServer)] = []
        while true {
            let closing = owner.takePending(into: &incoming)
            for (request, server) in incoming { register(request, server) }
            incoming.removeAll(keepingCapacity: true)
            if closing && !draining { drain() }
            if draining && connections.isEmpty { return }

            var timeout: Int32 = -1
            if nextIdleCheck != .max {
                let now = monotonicNanoseconds()
                timeout = nextIdleCheck <= now ? 0 : Int32(clamping: (nextIdleCheck - now + 999_999) / 1_000_000)
            }
            if draining {  // look for connections past their grace at least every closeGrace
                let grace = max(1, Int32(clamping: (Self.nanoseconds(owner.closeGrace) + 999_999) / 1_000_000))
                timeout = timeout < 0 ? grace : min(timeout, grace)
            }
            let count = cssd_epoll_wait(epoll, &tags, &events, Int32(tags.count), timeout)
            if count < 0 && errno != EINTR {
                // Not expected (EBADF, EINVAL); end every connection rather than spin.
                for connection in Array(connections.values) { close(connection) }
                if !draining { drain() }
                continue
            }
            let now = monotonicNanoseconds()
            for index in 0..<max(0, Int(count)) {
                if tags[index] == Self.wakeupTag {
                    wakeup.drain()
                } else if let connection = connections[Int32(truncatingIfNeeded: tags[index])] {
                    serve(connection, events: events[index], buffer: buffer, now: now)
                }
            }
            if now >= nextIdleCheck || draining { sweep(now: now) }
        }
    }

    /// Takes a handed-over connection into the loop.
    private func register(_ request: Request, _ server: BaseServer) {
        let now = monotonicNanoseconds()
        do {
            try request.socket.setNonBlockingFlag(true)
            if owner.noDelay && request.socket.family != .unix { try? request.socket.setOption(.tcpNoDelay, true) }
            let handler = owner.handlerType.init(clientAddress: request.clientAddress, server: server)
            let connection = EventConnection(request: request, server: server, handler: handler, now: now)
            guard cssd_epoll_ctl(epoll, 0, connection.fd, CSSD_EPOLLIN, UInt64(UInt32(bitPattern: connection.fd))) == 0 else {
                throw SocketError.last("epoll_ctl")
            }
            connection.interest = CSSD_EPOLLIN
            connections[connection.fd] = connection
            if let idle = idleNanoseconds { nextIdleCheck = min(nextIdleCheck, now + idle) }
        } catch {
            server.handleError(error, request: request)
            server.shutdownRequest(request)
            owner.closed()
        }
    }

    /// Handles one readiness report: sends what is pending, reads (unless output is still pending),
    /// then registers for what the connection waits for next, or closes it.
    private func serve(_ connection: EventConnection, events: UInt32, buffer: UnsafeMutableRawBufferPointer, now: UInt64) {
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
        update(connection)
    }

    private func read(_ connection: EventConnection, buffer: UnsafeMutableRawBufferPointer, now: UInt64) throws {
        var reads = 0
        while connection.reading && reads < Self.readsPerTurn {
            let count = Glibc.recv(connection.fd, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT))
            if count > 0 {
                reads += 1
                connection.lastActivity = now
                let goOn = try connection.handler.received(
                    UnsafeRawBufferPointer(rebasing: buffer[..<count]), output: &connection.output)
                if !goOn { connection.reading = false }
                if connection.hasOutput {
                    try connection.flush(now: now)
                    if connection.hasOutput { return }  // backpressure: wait until the client reads
                }
            } else if count == 0 {
                connection.reading = false
            } else if errno == EINTR {
                continue
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                return
            } else {
                throw SocketError.last("recv")
            }
        }
    }

    /// Waits for output room while output is pending, for input while reading; closes when done.
    private func update(_ connection: EventConnection) {
        let wanted: UInt32
        if connection.hasOutput {
            wanted = CSSD_EPOLLOUT
        } else if connection.reading {
            wanted = CSSD_EPOLLIN
        } else {
            close(connection)
            return
        }
        guard wanted != connection.interest else { return }
        if cssd_epoll_ctl(epoll, 1, connection.fd, wanted, UInt64(UInt32(bitPattern: connection.fd))) != 0 {
            connection.server.handleError(SocketError.last("epoll_ctl"), request: connection.request)
            close(connection)
            return
        }
        connection.interest = wanted
    }

    private func close(_ connection: EventConnection) {
        _ = cssd_epoll_ctl(epoll, 2, connection.fd, 0, 0)
        connections[connection.fd] = nil
        connection.server.shutdownRequest(connection.request)
        owner.closed()
    }

    /// The owner is closing: from now on `sweep` also ends connections that have nothing to send
    /// and have been silent for `closeGrace`.
    private func drain() {
        draining = true
        nextIdleCheck = 0
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = max(duration, .zero).components
        return UInt64(min(seconds, 1_000_000_000)) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }

    private var idleNanoseconds: UInt64? { owner.idleTimeout.map(Self.nanoseconds) }

    /// Closes connections silent for `idleTimeout` (reported as a timeout) and, while draining,
    /// those with nothing to send silent for `closeGrace`; notes when the next one could be due.
    private func sweep(now: UInt64) {
        let idle = idleNanoseconds
        let grace = Self.nanoseconds(owner.closeGrace)
        var next = UInt64.max
        for connection in Array(connections.values) {
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
                if connection.lastActivity + grace <= now {
                    close(connection)
                    continue
                }
                next = min(next, connection.lastActivity + grace)
            }
        }
        nextIdleCheck = next
    }
}
