// What a server hands to verifyRequest, processRequest and the request handler.

/// One request. For stream servers `socket` is the connected client socket and `packet` is empty;
/// for datagram servers `socket` is the server's own socket and `packet` the datagram received
/// (Python's `request` is then the tuple `(data, socket)`).
public struct Request: @unchecked Sendable {
    public let socket: Socket
    public let packet: [UInt8]
    public let clientAddress: SocketAddress

    public init(socket: Socket, packet: [UInt8] = [], clientAddress: SocketAddress) {
        self.socket = socket
        self.packet = packet
        self.clientAddress = clientAddress
    }
}
