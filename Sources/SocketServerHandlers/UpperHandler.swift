// upper: the seeds' upper-casing echo.
import SocketServer

/// The upper-casing echo of the socketserver tutorials, over a stream: each chunk received is sent
/// back with ASCII letters upper-cased (other bytes unchanged), until the client closes.
///
/// One 16 KiB buffer serves the whole connection and is upper-cased in place. An idle timeout
/// (`SocketError.timeout` from `recv`) propagates: the server logs it and closes the connection.
public final class UpperStreamHandler: BaseRequestHandler {
    override public func handle() throws {
        var buffer = [UInt8](repeating: 0, count: streamChunkSize)
        try buffer.withUnsafeMutableBytes { raw in
            while true {
                let count = try request.recv(into: raw)
                if count == 0 { return }
                let chunk = UnsafeMutableRawBufferPointer(rebasing: raw[..<count])
                asciiUppercase(chunk)
                try request.sendAll(UnsafeRawBufferPointer(chunk))
            }
        }
    }
}

/// The upper-casing echo over datagrams: answers each datagram with its ASCII-upper-cased copy.
public final class UpperDatagramHandler: BaseRequestHandler {
    override public func handle() throws {
        guard clientCanReceiveReplies else { return }
        var reply = packet
        reply.withUnsafeMutableBytes { asciiUppercase($0) }
        try request.sendTo(reply, clientAddress)
    }
}

/// The upper-casing echo for an event loop (`EventLoopMixIn`): each chunk comes back upper-cased.
public final class UpperEventHandler: EventStreamHandler {
    public init(clientAddress: SocketAddress, server: BaseServer) {}

    public func received(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8]) throws -> Bool {
        let start = output.count
        output.append(contentsOf: bytes)
        output.withUnsafeMutableBytes { asciiUppercase(UnsafeMutableRawBufferPointer(rebasing: $0[start...])) }
        return true
    }
}
