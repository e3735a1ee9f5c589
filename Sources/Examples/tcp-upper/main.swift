// The seeds' TCP server: what a client sends comes back upper-cased.
// swift run tcp-upper [PORT], then: python3 Sources/Examples/tcp-upper/client.py localhost 9999 hello world
import Foundation
import SocketServer

final class MyTCPHandler: BaseRequestHandler {
    override func handle() throws {
        // self.request is the TCP socket connected to the client
        let data = try request.recv(1024).decode().trimmingCharacters(in: .whitespacesAndNewlines)
        print("\(clientAddress.host) wrote:")
        print(data)
        // just send back the same data, but upper-cased
        try request.sendAll(data.uppercased())
    }
}

runMain {
    let arguments = CommandLine.arguments
    let (host, port) = ("localhost", arguments.count > 1 ? Int(arguments[1]) ?? 9999 : 9999)
    // Create the server, binding to localhost on port 9999
    let server = try TCPServer((host, port), MyTCPHandler.self)
    let (boundHost, boundPort) = server.serverAddress
    print("serving on \(boundHost):\(boundPort)")
    // Activate the server; this will keep running until you interrupt the program with Ctrl-C
    try server.serveForever()
}
