// UDPServer: a datagram server; each datagram is one request.

/// A datagram server for UDP over IPv4 or IPv6 (and, as UnixDatagramServer, Unix). The handler gets
/// the datagram in `packet` and the server's socket in `request`, and answers with `sendTo`.
open class UDPServer: TCPServer, @unchecked Sendable {
    /// The largest datagram read (Python's `max_packet_size`, 8192); longer ones are truncated.
    public var maxPacketSize = 8192

    override open class var socketType: SocketType { .datagram }

    /// Datagram sockets do not listen; the descriptor is made non-blocking for sharing.
    override open func serverActivate() throws {
        try socket.setNonBlockingFlag(true)
    }

    override open func getRequest() throws -> Request? {
        guard let (data, address) = try socket.recvFromIfReady(maxPacketSize) else { return nil }
        return Request(socket: socket, packet: data, clientAddress: address)
    }

    /// Nothing to shut down: the socket is the server's own.
    override open func shutdownRequest(_ request: Request) {}

    override open func closeRequest(_ request: Request) {}
}
