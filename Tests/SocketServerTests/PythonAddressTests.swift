// Addresses as Python writes them: (host, port) tuples and Unix paths wherever an address is
// taken, Int ports everywhere (out of range is a thrown error), and `let (host, port) =
// server.serverAddress`.
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

final class PythonAddressTests: XCTestCase {
    func testTuplesForBindConnectConnectExAndSendTo() throws {
        let listener = try Socket(family: .inet, type: .stream)
        defer { listener.close() }
        try listener.bind(("127.0.0.1", 0))
        try listener.listen()
        let port = try XCTUnwrap(listener.getSockName().port)

        let client = try Socket(family: .inet, type: .stream)
        defer { client.close() }
        try client.setTimeout(ioTimeout)
        try client.connect(("localhost", port))  // a name resolves to this socket's family (IPv4)
        let (accepted, peer) = try listener.accept()
        defer { accepted.close() }
        XCTAssertEqual(peer.host, "127.0.0.1")
        try client.send("ping")
        try accepted.setTimeout(ioTimeout)
        XCTAssertEqual(try accepted.recv(16).decode(), "ping")

        let connected = try createConnection(("127.0.0.1", port), timeout: ioTimeout)
        defer { connected.close() }
        let (second, _) = try listener.accept()
        second.close()

        listener.close()
        let refused = try Socket(family: .inet, type: .stream)
        defer { refused.close() }
        XCTAssertEqual(try refused.connectEx(("127.0.0.1", port)), ECONNREFUSED)

        let receiver = try Socket(family: .inet, type: .datagram)
        defer { receiver.close() }
        try receiver.bind(("", 0))  // Python's ("", port): every address
        try receiver.setTimeout(ioTimeout)
        let udpPort = try XCTUnwrap(receiver.getSockName().port)
        let sender = try Socket(family: .inet, type: .datagram)
        defer { sender.close() }
        XCTAssertEqual(try sender.sendTo("datagram", ("127.0.0.1", udpPort)), 8)
        let (data, from) = try receiver.recvFrom(64)
        XCTAssertEqual(try data.decode(), "datagram")
        XCTAssertEqual(from.port, try sender.getSockName().port)
    }

    func testUnixPathsForBindConnectSendToAndServers() throws {
        let directory = try TemporaryDirectory()
        let server = try ThreadingUnixStreamServer(directory.file("s.sock"), EchoHandler.self)
        try withServing(server) { server in
            let client = try createConnection(directory.file("s.sock"), timeout: ioTimeout)
            defer { client.close() }
            try client.sendAll("over a path")
            try client.shutdown(.write)
            XCTAssertEqual(try readAllText(client), "over a path")
            let raw = try Socket(family: .unix, type: .stream)
            defer { raw.close() }
            XCTAssertEqual(try raw.connectEx(directory.file("s.sock")), 0)
            XCTAssertEqual(server.serverAddress.host, directory.file("s.sock"))
        }

        let datagrams = try UnixDatagramServer(directory.file("d.sock"), EchoHandler.self)
        try withServing(datagrams) { _ in
            let client = try Socket(family: .unix, type: .datagram)
            defer { client.close() }
            try client.bind(directory.file("c.sock"))
            try client.setTimeout(ioTimeout)
            try client.sendTo("to a path", directory.file("d.sock"))
            let (reply, from) = try client.recvFrom(64)
            XCTAssertEqual(try reply.decode(), "to a path")
            XCTAssertEqual(from, .unix(path: directory.file("d.sock")))
        }
    }

    func testServerAddressUnpacksAsPythonsTuple() throws {
        let server = try TCPServer(("localhost", 0), EchoHandler.self)
        defer { server.serverClose() }
        let (host, port) = server.serverAddress
        XCTAssertEqual(host, "127.0.0.1", "a name binds its IPv4 address, as Python's AF_INET TCPServer does")
        XCTAssertGreaterThan(port, 0)
        let address: SocketAddress = server.serverAddress  // where a SocketAddress fits, it is one
        XCTAssertEqual(address, .inet(host: host, port: port))
        XCTAssertEqual(server.serverAddress.port, port)
        XCTAssertEqual("\(server.serverAddress)", "127.0.0.1:\(port)")
    }

    func testPortsAreIntAndOutOfRangeIsAThrownError() throws {
        let address = SocketAddress.inet(host: "127.0.0.1", port: 8080)
        let port: Int? = address.port
        XCTAssertEqual(port, 8080)
        XCTAssertEqual(address.host, "127.0.0.1")
        let socket = try Socket(family: .inet, type: .stream)
        defer { socket.close() }
        for bad in [65536, -1, Int.max] {
            XCTAssertThrowsError(try socket.bind(("127.0.0.1", bad))) { error in
                XCTAssertEqual(error as? SocketError, .invalidAddress("port \(bad) is out of range 0-65535"))
            }
            XCTAssertThrowsError(try socket.bind(.inet(host: "127.0.0.1", port: bad)), "a case built with a bad port throws when used")
            XCTAssertThrowsError(try socket.connect(.inet6(host: "::1", port: bad)))
            XCTAssertThrowsError(try TCPServer(("127.0.0.1", bad), EchoHandler.self))
            XCTAssertThrowsError(try createConnection(("127.0.0.1", bad)))
        }
    }

    func testSendsTakeTextAndBytesAlike() throws {
        let (left, right) = try Socket.pair()
        defer { left.close(); right.close() }
        try right.setTimeout(ioTimeout)
        XCTAssertEqual(try left.send("text "), 5)
        try left.sendAll("é"[...])
        try left.sendAll([0x21] as [UInt8])
        XCTAssertEqual(try readExactly(right, 8).decode(), "text é!")
    }
}
