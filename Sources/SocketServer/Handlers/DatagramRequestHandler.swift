// DatagramRequestHandler: rfile over the packet, wfile sent back on finish (Python's DatagramRequestHandler).

/// A handler for datagram servers: `rfile` reads the datagram, and what the handler writes to `wfile`
/// is sent back to the client as one datagram when it finishes (nothing is sent if nothing was written).
open class DatagramRequestHandler: BaseRequestHandler {
    public let rfile: BufferedReader
    public let wfile: ResponseWriter

    public required init(request: Request, server: BaseServer) {
        rfile = BufferedReader(bytes: request.packet)
        wfile = ResponseWriter()
        super.init(request: request, server: server)
    }

    /// The server's socket the datagram arrived on (Python's `self.socket`).
    public var socket: Socket { request }

    override open func finish() throws {
        if !wfile.collected.isEmpty { try request.sendTo(wfile.collected, clientAddress) }
    }
}
