// An event loop (not in CPython): one thread serves every connection with epoll; each chunk a
// client sends comes back upper-cased, and handlers never block.
// swift run event-upper [PORT], then: python3 Sources/Examples/tcp-upper/client.py 127.0.0.1 9999 hello
import SocketServer

final class UpperEvents: EventStreamHandler {
    init(clientAddress: SocketAddress, server: BaseServer) {}

    func received(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8]) throws -> Bool {
        output += bytes.map { $0 >= 97 && $0 <= 122 ? $0 - 32 : $0 }
        return true  // false: close once the output is sent
    }
}

runMain {
    let arguments = CommandLine.arguments
    let port = arguments.count > 1 ? Int(arguments[1]) ?? 9999 : 9999
    let loop = EventLoopMixIn(handler: UpperEvents.self, maxConnections: 1024, idleTimeout: .seconds(30))
    let server = try TCPServer(("127.0.0.1", port), BaseRequestHandler.self, concurrency: loop)
    let (host, boundPort) = server.serverAddress
    print("serving on \(host):\(boundPort)")
    try server.serveForever()
}
