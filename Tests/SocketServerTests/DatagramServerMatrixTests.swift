// Every datagram server kind (UDP, Unix datagram) under every concurrency model, with real clients:
// each datagram is one request answered with sendTo, several clients at once, clean-up on close.
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

final class DatagramServerMatrixTests: XCTestCase {
    private func exercise(
        _ model: ConcurrencyModel, unix: Bool, file: StaticString = #filePath, line: UInt = #line,
        _ make: (SocketAddress, (any RequestConcurrency)?) throws -> UDPServer
    ) throws {
        let directory = try TemporaryDirectory()
        let requested: SocketAddress = unix ? .unix(path: directory.file("dgram.sock")) : loopback4
        let threadsBefore = threadCount()
        try assertNoDescriptorLeak("by a \(model) datagram server", file: file, line: line) {
            let server = try make(requested, model.poolIfAny)
            let address = server.serverAddress
            XCTAssertEqual(server.socket.type, .datagram, file: file, line: line)
            if !unix { XCTAssertNotEqual(address.port, 0, "serverAddress shows the real port", file: file, line: line) }
            try withServing(server, file: file, line: line) { _ in
                for round in 0..<3 {
                    let reply = try datagramExchange(address, "datagram \(round)", clientPath: directory.file("c\(round)"))
                    assertPidEcho(reply, "datagram \(round)", model, file: file, line: line)
                }
                // Several clients with a datagram each in flight at once.
                let clients = try (0..<4).map { index -> Socket in
                    let client = try Socket(family: address.family, type: .datagram)
                    try client.setTimeout(ioTimeout)
                    if unix { try client.bind(.unix(path: directory.file("many\(index)"))) }
                    return client
                }
                defer { clients.forEach { $0.close() } }
                for (index, client) in clients.enumerated() { try client.sendTo(Array("client \(index)".utf8), address) }
                for (index, client) in clients.enumerated() {
                    let (reply, _) = try client.recvFrom(1024)
                    assertPidEcho(String(decoding: reply, as: UTF8.self), "client \(index)", model, file: file, line: line)
                }
            }
            assertCleanedUp(server, model, threadsBefore: threadsBefore, file: file, line: line)
        }
    }

    // MARK: UDP

    func testUDPServer() throws {
        try exercise(.synchronous, unix: false) { try UDPServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    func testThreadingUDPServer() throws {
        try exercise(.threading, unix: false) { try ThreadingUDPServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    func testForkingUDPServer() throws {
        try exercise(.forking, unix: false) { try ForkingUDPServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    func testThreadPoolUDPServer() throws {
        try exercise(.pool, unix: false) { try UDPServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    // MARK: Unix datagram

    func testUnixDatagramServer() throws {
        try exercise(.synchronous, unix: true) { try UnixDatagramServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    func testThreadingUnixDatagramServer() throws {
        try exercise(.threading, unix: true) { try ThreadingUnixDatagramServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    func testForkingUnixDatagramServer() throws {
        try exercise(.forking, unix: true) { try ForkingUnixDatagramServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    func testThreadPoolUnixDatagramServer() throws {
        try exercise(.pool, unix: true) { try UnixDatagramServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    // MARK: Details

    func testDatagramsLongerThanMaxPacketSizeAreTruncated() throws {
        let server = try UDPServer(loopback4, EchoHandler.self)
        server.maxPacketSize = 16
        XCTAssertEqual(UDPServer.socketType, .datagram)
        try withServing(server) { server in
            let reply = try datagramExchange(server.serverAddress, String(repeating: "x", count: 100))
            XCTAssertEqual(reply, String(repeating: "x", count: 16))
        }
    }

    func testUnixDatagramServerPathInitializer() throws {
        let directory = try TemporaryDirectory()
        let server = try UnixDatagramServer(path: directory.file("d.sock"), EchoHandler.self)
        try withServing(server) { server in
            XCTAssertEqual(server.serverAddress, .unix(path: directory.file("d.sock")))
            XCTAssertEqual(try datagramExchange(server.serverAddress, "x", clientPath: directory.file("c")), "x")
        }
    }
}
