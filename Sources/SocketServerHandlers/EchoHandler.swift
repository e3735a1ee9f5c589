// echo (RFC 862): every byte received is sent back.
import SocketServer

/// RFC 862 echo over a stream: sends back what arrives, chunk by chunk, until the client closes.
///
/// One 16 KiB buffer serves the whole connection. When the service's idle timeout expires,
/// `recv` throws `SocketError.timeout`; the handler lets it propagate, so the server logs it
/// and closes the connection.
///
/// Over TCP, Nagle's algorithm is off (TCP_NODELAY): echo answers a message in several sends of
/// up to 16 KiB, and with Nagle every send after the first would wait for the client's delayed ACK
/// (40 ms on Linux).
public final class EchoStreamHandler: BaseRequestHandler {
    override public func handle() throws {
        if request.family != .unix { try? request.setOption(.tcpNoDelay, true) }
        // Uninitialised: every byte sent was first received into it (saves a 16 KiB memset per connection).
        var buffer = [UInt8](unsafeUninitializedCapacity: streamChunkSize) { _, count in count = streamChunkSize }
        try buffer.withUnsafeMutableBytes { raw in
            while true {
                let count = try request.recv(into: raw)
                if count == 0 { return }
                try request.sendAll(UnsafeRawBufferPointer(rebasing: raw[..<count]))
            }
        }
    }
}

/// RFC 862 echo over datagrams: answers each datagram with itself (an empty one included),
/// sent to its sender. Datagrams longer than the server's `maxPacketSize` come back truncated.
public final class EchoDatagramHandler: BaseRequestHandler {
    override public func handle() throws {
        guard clientCanReceiveReplies else { return }
        try request.sendTo(packet, clientAddress)
    }
}

/// RFC 862 echo for an event loop (`EventLoopMixIn`): each chunk received is queued to be sent back.
public final class EchoEventHandler: EventStreamHandler {
    public init(clientAddress: SocketAddress, server: BaseServer) {}

    public func received(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8]) throws -> Bool {
        output.append(contentsOf: bytes)
        return true
    }
}
