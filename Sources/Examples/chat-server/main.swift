// The seeds' line server on StreamRequestHandler: it greets each client, then sends back what
// it receives, until the client leaves.
// swift run chat-server [PORT], then: python3 Sources/Examples/chat-server/client.py 127.0.0.1 9999
import Glibc
import SocketServer

final class Servers: StreamRequestHandler {
    override func handle() throws {
        print("got connection from", clientAddress)
        let (host, port) = server.serverAddress
        var now = time(nil)
        let ctime = String(cString: Glibc.ctime(&now)).dropLast()  // without its newline
        try wfile.write("connection \(host):\(port) at \(ctime) succeed!")
        while true {
            let data = try request.recv(1024)
            if data.isEmpty { break }
            print(data.decode(errors: .replace), terminator: "")
            print("RECV from", clientAddress.host)
            try request.send(data)
        }
    }
}

runMain {
    let arguments = CommandLine.arguments
    let addr = ("127.0.0.1", arguments.count > 1 ? Int(arguments[1]) ?? 9999 : 9999)
    let server = try ThreadingTCPServer(addr, Servers.self)
    let (host, port) = server.serverAddress
    print("server is running on \(host):\(port)")
    try server.serveForever()
}
