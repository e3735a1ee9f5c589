// The seed documents' programs, ported and run end to end: the upper-case TCP and UDP servers,
// the threaded client demo, and the StreamRequestHandler line ("chat") server.
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

/// Seed: `data = self.request.recv(1024).strip(); self.request.sendall(data.upper())`, and for UDP
/// `data = self.request[0].strip(); socket.sendto(data.upper(), self.client_address)`.
final class UpperHandler: BaseRequestHandler {
    override func handle() throws {
        if request.type == .datagram {
            try request.sendTo(upper(packet), clientAddress)
        } else {
            try request.setTimeout(ioTimeout)
            try request.sendAll(upper(try request.recv(1024)))
        }
    }

    private func upper(_ bytes: [UInt8]) -> [UInt8] {
        let text = String(decoding: bytes, as: UTF8.self).stripped
        return Array(text.uppercased().utf8)
    }
}

extension String {
    /// Python's `str.strip()`.
    var stripped: String {
        var view = Substring(self)
        while let first = view.first, first.isWhitespace { view.removeFirst() }
        while let last = view.last, last.isWhitespace { view.removeLast() }
        return String(view)
    }
}

/// The threaded demo's handler: `"{thread}: {data}"`. Each handler also waits (bounded) until
/// `expected` handlers are running at once, which only a concurrent server achieves.
final class ThreadedDemoHandler: BaseRequestHandler {
    override func handle() throws {
        let server = server as! DemoServer
        try request.setTimeout(ioTimeout)
        let data = String(decoding: try request.recv(1024), as: UTF8.self)
        server.arrived.update { $0 += 1 }
        let together = eventually { server.arrived.value >= server.expected.value }
        try request.sendAll("Thread-\(pthread_self()) \(together ? "together" : "alone"): \(data)")
    }
}

final class DemoServer: ThreadingTCPServer, @unchecked Sendable {
    /// Handlers started since `expected` was last set (a barrier count, never decremented).
    let arrived = Locked(0)
    let expected = Locked(1)
}

/// Seed: greet the client, then echo what it sends until it leaves — here line by line with
/// `rfile.readLine()` and `wfile.write`.
final class ChatHandler: StreamRequestHandler {
    override var timeout: Duration? { ioTimeout }

    override func handle() throws {
        try wfile.write("connection \(server.serverAddress) succeed!\n")
        while true {
            let line = try rfile.readLine()
            if line.isEmpty { break }  // the client left
            let text = String(decoding: line, as: UTF8.self)
            if text.stripped == "exit" { break }
            try wfile.write("echo: " + text)
        }
    }
}

final class SeedProgramTests: XCTestCase {
    func testUpperCaseTCPServer() throws {
        let server = try TCPServer(("localhost", 0), UpperHandler.self)
        try withServing(server) { server in
            for text in ["hello world\n", "  socketserver in swift  "] {
                let client = try connectClient(server.serverAddress)
                defer { client.close() }
                try client.sendAll(text)
                let reply = String(decoding: try readAll(client), as: UTF8.self)
                XCTAssertEqual(reply, text.stripped.uppercased())
            }
        }
    }

    func testUpperCaseUDPServer() throws {
        let server = try UDPServer(("localhost", 0), UpperHandler.self)
        try withServing(server) { server in
            XCTAssertEqual(try datagramExchange(server.serverAddress, "hello udp\n"), "HELLO UDP")
            XCTAssertEqual(try datagramExchange(server.serverAddress, "again"), "AGAIN")
        }
    }

    func testThreadedClientDemo() throws {
        let server = try DemoServer(("127.0.0.1", 0), ThreadedDemoHandler.self, bindAndActivate: false)
        // Eight clients connect at once: more than Python's default backlog of 5, whose overflow the
        // kernel answers with SYN-ACK retries a second or more apart.
        server.requestQueueSize = 16
        try server.serverBind()
        try server.serverActivate()
        try withServing(server) { server in
            // As in the seed: three clients one after another.
            for number in 1...3 {
                let client = try connectClient(server.serverAddress)
                defer { client.close() }
                try client.sendAll("Hello World \(number)")
                let reply = String(decoding: try client.recv(1024), as: UTF8.self)
                XCTAssertTrue(reply.hasPrefix("Thread-"), reply)
                XCTAssertTrue(reply.hasSuffix(": Hello World \(number)"), reply)
            }
            // Then eight at once: every handler sees all eight running together.
            let count = 8
            server.arrived.update { $0 = 0 }
            server.expected.update { $0 = count }
            let replies = Locked<[String]>([])
            let threads = try (0..<count).map { index in
                try PosixThread.start {
                    do {
                        let client = try connectClient(server.serverAddress)
                        defer { client.close() }
                        try client.sendAll("client \(index)")
                        let reply = String(decoding: try client.recv(1024), as: UTF8.self)
                        replies.update { $0.append(reply) }
                    } catch {
                        replies.update { $0.append("error \(error)") }
                    }
                }
            }
            threads.forEach { $0.join() }
            let all = replies.value
            XCTAssertEqual(all.count, count)
            for index in 0..<count {
                XCTAssertEqual(all.filter { $0.hasSuffix("together: client \(index)") }.count, 1, "\(all)")
            }
        }
    }

    func testStreamRequestHandlerChat() throws {
        let server = try ThreadingTCPServer(loopback4, ChatHandler.self)
        try withServing(server) { server in
            let client = try connectClient(server.serverAddress)
            defer { client.close() }
            let lines = BufferedReader(socket: client)
            XCTAssertEqual(String(decoding: try lines.readLine(), as: UTF8.self), "connection \(server.serverAddress) succeed!\n")
            for text in ["hello", "你好，socketserver", String(repeating: "long ", count: 5000)] {
                try client.sendAll(text + "\r\n")
                XCTAssertEqual(String(decoding: try lines.readLine(limit: 1 << 20), as: UTF8.self), "echo: \(text)\r\n")
            }
            try client.sendAll("exit\r\n")
            XCTAssertEqual(try lines.readLine(), [], "the server closed after exit")
        }
    }

    func testChatClientLeavingWithoutExit() throws {
        let directory = try TemporaryDirectory()
        let server = try ThreadingUnixStreamServer(.unix(path: directory.file("chat.sock")), ChatHandler.self)
        try withServing(server) { server in
            let reply = try streamExchange(server.serverAddress, "one\ntwo\nthree")
            XCTAssertEqual(reply, "connection \(server.serverAddress) succeed!\necho: one\necho: two\necho: three")
        }
    }
}
