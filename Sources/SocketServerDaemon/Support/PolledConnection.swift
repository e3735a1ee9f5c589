// One connection of a server that a poll loop drives (the control socket, the metrics listener):
// every call non-blocking, one request in, one reply out, a deadline from accept to close.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// A connection that brings one request and gets one reply. Its socket's timeout is zero, so
/// each call does what it can now and reports EAGAIN rather than wait; the server's poll says
/// when to call again.
struct PolledConnection {
    let socket: Socket
    /// When the server closes it, whatever it is doing.
    let deadline: ContinuousClock.Instant
    /// The request so far.
    var received: [UInt8] = []
    /// The reply, once the request is in; `sent` bytes of it have gone.
    var reply: [UInt8]? = nil
    var sent = 0
    /// The whole reply is sent and the sending side shut (`shutSending`): what the client still
    /// sends is read and dropped until it closes.
    private(set) var draining = false
    /// What the last poll reported for it, for a server that keeps it until it serves it.
    var revents: Int16 = 0

    /// Takes the next connection waiting on `listener`, made non-blocking, with `deadline`; nil
    /// when none waits. One that cannot be made non-blocking is closed and the next one taken.
    /// Throws when accept fails (out of descriptors or memory).
    static func accept(from listener: Socket, deadline: ContinuousClock.Instant) throws(SocketError) -> PolledConnection? {
        while let (socket, _) = try listener.acceptIfReady() {
            guard (try? socket.setBlocking(false)) != nil else {
                socket.close()
                continue
            }
            return PolledConnection(socket: socket, deadline: deadline)
        }
        return nil
    }

    /// What poll waits on for it: the request (or the client's close, while draining), else room
    /// for the reply.
    var pollEntry: pollfd {
        pollfd(fd: socket.fileno(), events: Int16(reply == nil || draining ? POLLIN : POLLOUT), revents: 0)
    }

    /// Reads what waits of the request, up to `limit` bytes in all, into `received`: the count
    /// read (0: the client closed), nil when nothing waits now. Throws when reading failed.
    mutating func receive(limit: Int) throws(SocketError) -> Int? {
        let chunk: [UInt8]
        do {
            chunk = try socket.recv(limit - received.count)
        } catch let error where error.errno == EAGAIN {
            return nil
        }
        received += chunk
        return chunk.count
    }

    /// Sends what is left of the reply: true once all of it has gone, false while the socket has
    /// no room. Throws when sending failed.
    mutating func sendReply() throws(SocketError) -> Bool {
        guard let reply else { return false }
        while sent < reply.count {
            do {
                sent += try socket.send(reply[sent...])
            } catch let error where error.errno == EAGAIN {
                return false
            }
        }
        return true
    }

    /// Shuts the sending side once the reply is out; the client reads its end of file, and what
    /// it sends after is read by `discardWaiting` until it closes.
    mutating func shutSending() {
        draining = true
        _ = shutdown(socket.fileno(), Int32(SHUT_WR))
    }

    /// What one `discardWaiting` found.
    enum Discarded { case bytes, nothingWaiting, ended }

    /// Reads and drops one chunk of what the client sent beyond its request: closing a socket
    /// with unread data resets the connection, and the client could lose its reply.
    func discardWaiting() -> Discarded {
        do {
            return try socket.recv(4096).isEmpty ? .ended : .bytes
        } catch let error where error.errno == EAGAIN {
            return .nothingWaiting
        } catch {
            return .ended
        }
    }
}
