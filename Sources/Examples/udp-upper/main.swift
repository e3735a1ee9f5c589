// The seeds' UDP server: each datagram is answered upper-cased.
// swift run udp-upper [PORT], then: python3 Sources/Examples/udp-upper/client.py localhost 9999 hello world
import Foundation
import SocketServer

final class MyUDPHandler: BaseRequestHandler {
    override func handle() throws {
        // Python's self.request is (data, socket): here `packet` and `request`
        let data = try packet.decode().trimmingCharacters(in: .whitespacesAndNewlines)
        let socket = request
        print("\(clientAddress.host) wrote:")
        print(data)
        try socket.sendTo(data.uppercased(), clientAddress)
    }
}

runMain {
    let arguments = CommandLine.arguments
    let (host, port) = ("localhost", arguments.count > 1 ? Int(arguments[1]) ?? 9999 : 9999)
    let server = try UDPServer((host, port), MyUDPHandler.self)
    let (boundHost, boundPort) = server.serverAddress
    print("serving on \(boundHost):\(boundPort)")
    try server.serveForever()
}
