// Every stream server kind (TCP, Unix stream) under every concurrency model (synchronous, threading,
// forking, thread pool), with real clients: echo, concurrency, and clean-up on close.
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

final class StreamServerMatrixTests: XCTestCase {
    private func exercise(
        _ model: ConcurrencyModel, unix: Bool, file: StaticString = #filePath, line: UInt = #line,
        _ make: (SocketAddress, (any RequestConcurrency)?) throws -> TCPServer
    ) throws {
        let directory = try TemporaryDirectory()
        let requested: SocketAddress = unix ? .unix(path: directory.file("stream.sock")) : loopback4
        let threadsBefore = threadCount()
        try assertNoDescriptorLeak("by a \(model) stream server", file: file, line: line) {
            let server = try make(requested, model.poolIfAny)
            let address = server.serverAddress
            if unix {
                XCTAssertEqual(address, requested, file: file, line: line)
            } else {
                XCTAssertEqual(address.host, "127.0.0.1", file: file, line: line)
                XCTAssertNotEqual(address.port, 0, "serverAddress shows the real port", file: file, line: line)
            }
            try withServing(server, file: file, line: line) { _ in
                for round in 0..<3 {
                    assertPidEcho(try streamExchange(address, "hello \(round)"), "hello \(round)", model, file: file, line: line)
                }
                if model != .synchronous {
                    // The first client keeps its handler busy; the second must be served anyway.
                    let idle = try connectClient(address)
                    defer { idle.close() }
                    try idle.sendAll("still typing")
                    assertPidEcho(try streamExchange(address, "meanwhile"), "meanwhile", model, file: file, line: line)
                    try idle.shutdown(.write)
                    assertPidEcho(String(decoding: try readAll(idle), as: UTF8.self), "still typing", model, file: file, line: line)
                }
                let big = String(repeating: "0123456789abcdef", count: 64 << 10)
                assertPidEcho(try streamExchange(address, big), big, model, file: file, line: line)
            }
            assertCleanedUp(server, model, threadsBefore: threadsBefore, file: file, line: line)
        }
    }

    // MARK: TCP

    func testTCPServer() throws {
        try exercise(.synchronous, unix: false) { try TCPServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    func testThreadingTCPServer() throws {
        try exercise(.threading, unix: false) { try ThreadingTCPServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    func testForkingTCPServer() throws {
        try exercise(.forking, unix: false) { try ForkingTCPServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    func testThreadPoolTCPServer() throws {
        try exercise(.pool, unix: false) { try TCPServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    // MARK: Unix stream

    func testUnixStreamServer() throws {
        try exercise(.synchronous, unix: true) { try UnixStreamServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    func testThreadingUnixStreamServer() throws {
        try exercise(.threading, unix: true) { try ThreadingUnixStreamServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    func testForkingUnixStreamServer() throws {
        try exercise(.forking, unix: true) { try ForkingUnixStreamServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    func testThreadPoolUnixStreamServer() throws {
        try exercise(.pool, unix: true) { try UnixStreamServer($0, PidEchoHandler.self, concurrency: $1) }
    }

    // MARK: Construction details

    func testUnixStreamServerPathInitializerAndSocketFileIsLeftBehind() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("left.sock")
        let server = try UnixStreamServer(path: path, EchoHandler.self)
        try withServing(server) { server in
            XCTAssertEqual(try streamExchange(server.serverAddress, "x"), "x")
        }
        XCTAssertTrue(fileExists(path), "as in Python, closing does not remove the socket file")
    }

    func testDefaultConcurrencyOfEachClass() throws {
        let servers: [TCPServer] = [
            try TCPServer(loopback4, EchoHandler.self),
            try ThreadingTCPServer(loopback4, EchoHandler.self),
            try ForkingTCPServer(loopback4, EchoHandler.self),
            try UDPServer(loopback4, EchoHandler.self),
            try ThreadingUDPServer(loopback4, EchoHandler.self),
            try ForkingUDPServer(loopback4, EchoHandler.self),
        ]
        defer { servers.forEach { $0.serverClose() } }
        XCTAssertTrue(servers[0].concurrency is SynchronousRequests)
        XCTAssertTrue(servers[1].concurrency is ThreadingMixIn)
        XCTAssertTrue(servers[2].concurrency is ForkingMixIn)
        XCTAssertTrue(servers[3].concurrency is SynchronousRequests)
        XCTAssertTrue(servers[4].concurrency is ThreadingMixIn)
        XCTAssertTrue(servers[5].concurrency is ForkingMixIn)
        XCTAssertEqual(servers[0].socket.type, .stream)
        XCTAssertEqual(servers[3].socket.type, .datagram)

        let forking = try XCTUnwrap(servers[2] as? ForkingTCPServer)
        XCTAssertEqual(forking.maxChildren, 40, "Python's max_children")
        XCTAssertTrue(forking.blockOnClose)
        let threading = try XCTUnwrap(servers[1] as? ThreadingTCPServer)
        XCTAssertFalse(threading.daemonThreads)
        XCTAssertTrue(threading.blockOnClose)
        XCTAssertEqual(servers[0].requestQueueSize, 5, "Python's request_queue_size")
        XCTAssertFalse(servers[0].allowReuseAddress)
    }

    func testPythonStyleTupleInitializer() throws {
        let server = try ThreadingTCPServer(("127.0.0.1", 0), EchoHandler.self)
        try withServing(server) { server in
            XCTAssertEqual(try streamExchange(server.serverAddress, "tuple"), "tuple")
        }
    }
}
