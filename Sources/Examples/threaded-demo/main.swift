// The seeds' threaded server and its clients in one program: each request is answered by a
// thread of its own, which names itself in the reply.
// swift run threaded-demo
import SocketServer

final class ThreadedTCPRequestHandler: BaseRequestHandler {
    override func handle() throws {
        let data = try request.recv(1024).decode()
        let response = "\(PosixThread.current.name): \(data)"
        try request.sendAll(response)
    }
}

func client(_ ip: String, _ port: Int, _ message: String) throws {
    let sock = try Socket(family: .inet, type: .stream)
    defer { sock.close() }
    try sock.connect((ip, port))
    try sock.sendAll(message)
    let response = try sock.recv(1024).decode()
    print("Received: \(response)")
}

runMain {
    // Port 0 means to select an arbitrary unused port
    let (host, port) = ("localhost", 0)
    let server = try TCPServer((host, port), ThreadedTCPRequestHandler.self, concurrency: ThreadingMixIn())
    server.daemonThreads = true
    let (ip, boundPort) = server.serverAddress

    // Start a thread with the server -- that thread will then start one
    // more thread for each request
    let serverThread = try PosixThread.start { try server.serveForever() }
    print("Server loop running in thread:", serverThread.name)

    try client(ip, boundPort, "Hello World 1")
    try client(ip, boundPort, "Hello World 2")
    try client(ip, boundPort, "Hello World 3")

    server.shutdown()
    try serverThread.join()
    server.serverClose()
}
