// discard (RFC 863): everything received is thrown away.
import SocketServer

/// RFC 863 discard over a stream: reads and drops until the client closes; never sends.
///
/// One 16 KiB buffer serves the whole connection. An idle timeout (`SocketError.timeout` from
/// `recv`) propagates: the server logs it and closes the connection.
public final class DiscardStreamHandler: BaseRequestHandler {
    override public func handle() throws {
        var buffer = [UInt8](repeating: 0, count: streamChunkSize)
        try buffer.withUnsafeMutableBytes { raw in
            while try request.recv(into: raw) > 0 {}
        }
    }
}

/// RFC 863 discard over datagrams: drops each datagram without a reply.
public final class DiscardDatagramHandler: BaseRequestHandler {
    override public func handle() throws {}
}

/// RFC 863 discard for an event loop (`EventLoopMixIn`): drops what arrives, never sends.
public final class DiscardEventHandler: EventStreamHandler {
    public init(clientAddress: SocketAddress, server: BaseServer) {}

    public func received(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8]) throws -> Bool { true }
}
