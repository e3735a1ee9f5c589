// The state an event loop keeps for each of its connections, and its non-blocking send.
#if canImport(Glibc)
import Glibc
#endif

/// One connection of an event loop: its request (for `handleError` and `shutdownRequest`), its
/// handler and the bytes waiting to be sent. Touched by the loop's thread only.
final class EventConnection {
    let request: Request
    let server: BaseServer
    let handler: any EventStreamHandler
    let fd: Int32
    /// Bytes the handler produced; those before `outputStart` are sent.
    var output: [UInt8] = []
    var outputStart = 0
    /// False once the client closed its side, the handler asked to end, or the loop is ending the
    /// connection (drain, lingering close): nothing more is passed to the handler.
    var reading = true
    /// The client closed its side (end of file was read).
    var peerClosed = false
    /// While the loop ends the connection gracefully (our side shut, input read and dropped until
    /// the client closes): when it gives up waiting (monotonic nanoseconds); 0 otherwise.
    var lingerDeadline: UInt64 = 0
    /// The epoll events the descriptor is registered for.
    var interest: UInt32 = 0
    /// When the connection last received or sent a byte (monotonic nanoseconds).
    var lastActivity: UInt64
    /// Whether the handler was told it is done (`closed`).
    private var handlerDone = false

    init(request: Request, server: BaseServer, handler: any EventStreamHandler, now: UInt64) {
        self.request = request
        self.server = server
        self.handler = handler
        self.fd = request.socket.fileno()
        self.lastActivity = now
    }

    var hasOutput: Bool { outputStart < output.count }

    /// Tells the handler, once, that it is done.
    func finishHandler() {
        guard !handlerDone else { return }
        handlerDone = true
        handler.closed()
    }
    var lingering: Bool { lingerDeadline != 0 }

    /// Sends what `output` holds until done or the socket's buffer is full; throws on a send error.
    func flush(now: UInt64) throws(SocketError) {
        while outputStart < output.count {
            let sent: Int
            do {
                sent = try retryingOnInterrupt {
                    output.withUnsafeBytes { raw in
                        Glibc.send(fd, raw.baseAddress! + outputStart, raw.count - outputStart,
                                   Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL))
                    }
                }
            } catch .wouldBlock {
                break  // the socket's buffer is full: the loop waits for EPOLLOUT
            } catch {
                throw .system(call: "send", errno: error.rawValue)
            }
            guard sent > 0 else { throw .system(call: "send", errno: EPIPE) }
            request.socket.countSent(sent)
            outputStart += sent
            lastActivity = now
        }
        if outputStart == output.count {
            // Keep a small buffer for the next reply; give a large one back.
            output.removeAll(keepingCapacity: output.capacity <= 64 * 1024)
            outputStart = 0
        } else if outputStart >= 64 * 1024 && outputStart * 2 >= output.count {
            output.removeFirst(outputStart)
            outputStart = 0
        }
    }
}
