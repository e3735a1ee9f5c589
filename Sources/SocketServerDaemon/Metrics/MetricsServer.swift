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

    private let listener: Socket
    private let source: MetricsSource
    /// Readable when the process is asked to stop.
    private let wake: Int32
    private var clients: [PolledConnection] = []
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
            var entries = clients.map(\.pollEntry)
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
            let accepted: PolledConnection?
            do {
                accepted = try PolledConnection.accept(from: listener, deadline: ContinuousClock.now.advanced(by: Self.clientTimeout))
            } catch {
                if !acceptFailing { log.warning("metrics: accept: \(error); pausing accepts for \(Self.acceptPause) after each failure") }
                acceptFailing = true
                acceptResumes = ContinuousClock.now.advanced(by: Self.acceptPause)
                return
            }
            acceptFailing = false
            guard let client = accepted else { return }
            clients.append(client)
        }
    }

    /// Reads or writes what `client` is ready for; false once it is done with (answered and
    /// closed by the client, gone, failed).
    private func advance(_ client: inout PolledConnection) -> Bool {
        if client.draining { return client.discardWaiting() != .ended }
        if client.reply == nil {
            do {
                guard let count = try client.receive(limit: MetricsHTTP.maximumRequest) else { return true }
                if count == 0 { return false }  // closed before its request was whole
            } catch {
                return false
            }
            client.reply = MetricsHTTP.response(to: client.received) { MetricsExposition.render(source) }
            if client.reply == nil { return true }
        }
        do {
            guard try client.sendReply() else { return true }
        } catch {
            return false
        }
        // The whole answer is out: the client is left to close first, so that its unread data
        // does not reset the connection before it reads the answer.
        client.shutSending()
        return true
    }
}
