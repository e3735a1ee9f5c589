// What a server hands to verifyRequest, processRequest and the request handler.

/// One request. For stream servers `socket` is the connected client socket and `packet` is empty;
/// for datagram servers `socket` is the server's own socket and `packet` the datagram received
/// (Python's `request` is then the tuple `(data, socket)`).
public struct Request: @unchecked Sendable {
    public let socket: Socket
    public let packet: [UInt8]
    public let clientAddress: SocketAddress
    /// What a server attaches to the request (in its `getRequest` override), for its own later
    /// hooks (`verifyRequest` … `shutdownRequest`) to read back; the library never looks at it.
    public let context: AnyObject?

    public init(socket: Socket, packet: [UInt8] = [], clientAddress: SocketAddress, context: AnyObject? = nil) {
        self.socket = socket
        self.packet = packet
        self.clientAddress = clientAddress
        self.context = context
    }

    /// The same request with `context` attached.
    public func attaching(_ context: AnyObject) -> Request {
        Request(socket: socket, packet: packet, clientAddress: clientAddress, context: context)
    }
}
