// The metrics process's server: one thread, one poll loop over the listening socket, a wake-up
// descriptor (TERM) and a few connections, every socket non-blocking.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// Serves `GET /metrics` on `listener`. Each connection has `clientTimeout` from its accept to
/// its close; one that is slower (silent, reading slowly, not closing after its answer) is
/// closed then, and no connection waits on another. With `maximumClients` open, new ones wait in
/// the listen queue until one ends.
final class MetricsServer {
    static let maximumClients = 16
    static let clientTimeout: Duration = .seconds(5)

    private struct Client {
        let socket: Socket
        let deadline: ContinuousClock.Instant
        var request: [UInt8] = []
        var response: [UInt8]? = nil
        var sent = 0
        /// The whole answer is sent and the sending side shut: what the client still sends is
        /// read and dropped until it closes (closing with unread data would reset the connection
        /// and could lose the answer before the client reads it).
        var draining = false
    }

    private let listener: Socket
    private let source: MetricsSource
    /// Readable when the process is asked to stop.
    private let wake: Int32
    private var clients: [Client] = []
    /// After a failed accept (out of descriptors), the listener rests until then, as a worker's does.
    private var acceptResumes: ContinuousClock.Instant? = nil
    /// A failed accept is logged once until one succeeds again.
    private var acceptFailing = false
    static let acceptPause: Duration = .milliseconds(100)

    init(listener: Socket, source: MetricsSource, wake: Int32) {
        self.listener = listener
        self.source = source
        self.wake = wake
    }

    /// Serves until `stopping()` says so, then finishes the connections already open (each
    /// within its timeout); returns the process's exit status (1: poll failed, and the master
    /// restarts it with back-off).
    func run(stopping: () -> Bool) -> Int32 {
        var accepting = true
        while accepting || !clients.isEmpty {
            if accepting, stopping() { accepting = false }
            let now = ContinuousClock.now
            clients.removeAll { client in
                if client.deadline <= now { client.socket.close() }
                return client.deadline <= now
            }
            let polled = clients.count
            var entries = clients.map { client in
                pollfd(fd: client.socket.fileno(), events: Int16(client.response == nil || client.draining ? POLLIN : POLLOUT), revents: 0)
            }
            if let resume = acceptResumes, resume <= now { acceptResumes = nil }
            let listenerEntry = accepting && polled < Self.maximumClients && acceptResumes == nil ? entries.count : nil
            if listenerEntry != nil { entries.append(pollfd(fd: listener.fileno(), events: Int16(POLLIN), revents: 0)) }
            if accepting { entries.append(pollfd(fd: wake, events: Int16(POLLIN), revents: 0)) }
            guard !entries.isEmpty else { break }
            let timeout = (clients.map(\.deadline) + [acceptResumes].compactMap { $0 }).min().map { now.duration(to: $0) }
            if poll(&entries, nfds_t(entries.count), pollMilliseconds(timeout)) < 0 {
                if errno == EINTR { continue }
                log.error("metrics: poll: \(Errno(rawValue: errno))")
                return 1
            }
            // From the last client to the first, so that removing one leaves the others' indices.
            for index in (0..<polled).reversed() where entries[index].revents != 0 {
                if !advance(&clients[index]) {
                    clients[index].socket.close()
                    clients.remove(at: index)
                }
            }
            if let listenerEntry, entries[listenerEntry].revents != 0 { acceptWaiting() }
        }
        return 0
    }

    /// Takes the connections waiting, up to the limit.
    private func acceptWaiting() {
        while clients.count < Self.maximumClients {
            let accepted: (Socket, SocketAddress)?
            do {
                accepted = try listener.acceptIfReady()
            } catch {
                if !acceptFailing { log.warning("metrics: accept: \(error); pausing accepts for \(Self.acceptPause) after each failure") }
                acceptFailing = true
                acceptResumes = ContinuousClock.now.advanced(by: Self.acceptPause)
                return
            }
            acceptFailing = false
            guard let (socket, _) = accepted else { return }
            do {
                try socket.setNonBlockingFlag(true)
            } catch {
                socket.close()
                continue
            }
            clients.append(Client(socket: socket, deadline: ContinuousClock.now.advanced(by: Self.clientTimeout)))
        }
    }

    /// Reads or writes what `client` is ready for; false once it is done with (answered and
    /// closed by the client, gone, failed).
    private func advance(_ client: inout Client) -> Bool {
        if client.draining {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(client.socket.fileno(), $0.baseAddress, $0.count, 0) }
            return count > 0 || (count < 0 && (errno == EAGAIN || errno == EINTR))
        }
        if client.response == nil {
            var buffer = [UInt8](repeating: 0, count: MetricsHTTP.maximumRequest - client.request.count)
            let count = buffer.withUnsafeMutableBytes { recv(client.socket.fileno(), $0.baseAddress, $0.count, 0) }
            if count < 0 { return errno == EAGAIN || errno == EINTR }
            if count == 0 { return false }  // closed before its request was whole
            client.request += buffer[..<count]
            client.response = MetricsHTTP.response(to: client.request) { MetricsExposition.render(source) }
            if client.response == nil { return true }
        }
        guard let response = client.response else { return true }
        let count = response[client.sent...].withUnsafeBytes {
            send(client.socket.fileno(), $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
        }
        if count < 0 { return errno == EAGAIN || errno == EINTR }
        client.sent += count
        if client.sent == response.count {
            client.draining = true
            _ = shutdown(client.socket.fileno(), Int32(SHUT_WR))
        }
        return true
    }
}
