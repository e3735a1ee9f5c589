// Serving the control socket from the master's poll loop: every call is non-blocking, each
// connection carries one short request line and gets one answer, then is closed.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// The master's control connections. A client that sends nothing, sends too much or does not read
/// its answer costs one descriptor for at most `timeout`; at most `maximumConnections` are open
/// at once (one more is told the master is busy); the master never waits for one.
final class ControlServer {
    static let maximumConnections = 8
    /// The longest request line, newline included.
    static let requestLimit = 512
    /// How long one connection may take from accept to its answer's last byte.
    static let timeout: Duration = .seconds(2)

    private(set) var socket: ControlSocket?
    private var connections: [PolledConnection] = []
    private var listenerReady = false
    /// After accept failed for want of descriptors or memory, the listener is left alone until
    /// then (it stays readable, and the loop would spin).
    private var acceptPausedUntil: ContinuousClock.Instant? = nil

    /// Serves `socket` from now on; the one served before (another path) is closed and removed.
    func serve(_ socket: ControlSocket?) {
        guard socket !== self.socket else { return }
        self.socket?.close()
        self.socket = socket
        listenerReady = false
    }

    /// What the loop's poll waits on for the control socket: the listener, then each connection
    /// (its request, or room for its answer).
    func pollEntries() -> [pollfd] {
        var entries: [pollfd] = []
        if let socket {
            let paused = acceptPausedUntil.map { ContinuousClock.now < $0 } ?? false
            entries.append(pollfd(fd: paused ? -1 : socket.socket.fileno(), events: Int16(POLLIN), revents: 0))
        }
        return entries + connections.map(\.pollEntry)
    }

    /// Takes what poll reported for `pollEntries()`, in their order.
    func noteReady(_ entries: ArraySlice<pollfd>) {
        var index = entries.startIndex
        if socket != nil, index < entries.endIndex {
            listenerReady = entries[index].revents != 0
            index += 1
        }
        for slot in connections.indices where index < entries.endIndex {
            connections[slot].revents = entries[index].revents
            index += 1
        }
    }

    /// When the oldest connection runs out of time.
    var nextDeadline: ContinuousClock.Instant? { (connections.map(\.deadline) + [acceptPausedUntil].compactMap { $0 }).min() }

    /// Accepts, reads, answers (`answer` turns a request line into the whole answer) and writes
    /// what poll said is ready, and drops connections that are done or out of time.
    func serveReady(now: ContinuousClock.Instant, answer: (String) -> String) {
        if listenerReady {
            listenerReady = false
            acceptWaiting(now: now)
        }
        for slot in connections.indices {
            guard connections[slot].revents != 0 else { continue }
            connections[slot].revents = 0
            if connections[slot].reply == nil { read(slot, answer: answer) }
            if connections[slot].reply != nil { write(slot) }
        }
        connections.removeAll { connection in
            let done = !connection.socket.isOpen || connection.deadline <= now
            if done { connection.socket.close() }
            return done
        }
    }

    private func acceptWaiting(now: ContinuousClock.Instant) {
        guard let listener = socket?.socket else { return }
        // A bounded number per turn: a flood of connects cannot keep the loop here.
        for _ in 0..<(Self.maximumConnections * 2) {
            let accepted: PolledConnection?
            do {
                accepted = try PolledConnection.accept(from: listener, deadline: now.advanced(by: Self.timeout))
            } catch {
                log.warning("control socket: \(error); not accepting for 100 ms")
                acceptPausedUntil = now.advanced(by: .milliseconds(100))
                return
            }
            guard let client = accepted else { return }
            guard connections.count < Self.maximumConnections else {
                _ = try? client.socket.send(Array("error: busy, try again\n".utf8))
                client.socket.close()
                continue
            }
            connections.append(client)
        }
    }

    private func read(_ slot: Int, answer: (String) -> String) {
        let count: Int
        do {
            guard let read = try connections[slot].receive(limit: Self.requestLimit) else { return }
            count = read
        } catch {
            connections[slot].socket.close()
            return
        }
        let received = connections[slot].received
        if let newline = received.firstIndex(of: UInt8(ascii: "\n")) {
            let line = String(decoding: received[..<newline], as: UTF8.self)
            connections[slot].reply = Array(answer(line).utf8)
        } else if count == 0 {
            connections[slot].socket.close()  // closed before a whole line: nothing to answer
        } else if received.count >= Self.requestLimit {
            connections[slot].reply = Array("error: request longer than \(Self.requestLimit) bytes\n".utf8)
        }
    }

    private func write(_ slot: Int) {
        do {
            guard try connections[slot].sendReply() else { return }
        } catch {
            connections[slot].socket.close()
            return
        }
        // What the client sent beyond its line is read first, up to a bound, so that the close
        // does not reset the connection before the client reads its answer.
        for _ in 0..<16 {
            guard connections[slot].discardWaiting() == .bytes else { break }
        }
        connections[slot].socket.close()
    }

    /// Closes every connection (the listener stays): before an upgrade's exec, in a stop's end.
    func dropConnections() {
        for connection in connections { connection.socket.close() }
        connections = []
    }

    /// The master exits: connections closed, the socket closed and its file removed.
    func closeAll() {
        dropConnections()
        serve(nil)
    }

    /// In a forked child: closes every descriptor of the control socket, removing no file.
    func releaseInChild() {
        for connection in connections { connection.socket.close() }
        socket?.socket.close()
    }
}
