// EventLoopMixIn: many persistent connections on one thread, backpressure, the idle timeout, the
// connection cap and handler errors. EventLoopCloseTests: graceful ends and serverClose.
import Dispatch
import Glibc
import SocketServer
import SocketServerHandlers
import SocketServerTestSupport
import XCTest

/// A TCP server on a free port with an event loop; it records what reaches handleError.
final class EventServer: TCPServer, @unchecked Sendable {
    let errors = Locked<[String]>([])

    init(_ loop: EventLoopMixIn) throws {
        try super.init(try SocketAddress(host: "127.0.0.1", port: 0), BaseRequestHandler.self,
                       concurrency: loop, bindAndActivate: false)
        requestQueueSize = 512
        try serverBind()
        try serverActivate()
    }

    override func handleError(_ error: any Error, request: Request) {
        errors.update { $0.append("\(error)") }
    }

    var loop: EventLoopMixIn { concurrency as! EventLoopMixIn }
}

/// Echoes, but throws on a chunk that starts with "boom".
final class FailingEchoHandler: EventStreamHandler {
    struct Boom: Error, CustomStringConvertible { var description: String { "boom from the handler" } }
    init(clientAddress: SocketAddress, server: BaseServer) {}
    func received(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8]) throws -> Bool {
        if bytes.starts(with: Array("boom".utf8)) { throw Boom() }
        output.append(contentsOf: bytes)
        return true
    }
}

/// Echoes, but answers "blast\n" with `size` bytes of 7 (more than the kernel buffers hold), and
/// signals `asked` when it has queued them.
final class BlastHandler: EventStreamHandler {
    static let size = 8 << 20
    /// Made once (a memset), copied with memcpy: appending `size` single elements took over 5 s
    /// in an AddressSanitizer debug build.
    static let payload = [UInt8](repeating: 7, count: size)
    static let asked = DispatchSemaphore(value: 0)
    init(clientAddress: SocketAddress, server: BaseServer) {}
    func received(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8]) throws -> Bool {
        if bytes.elementsEqual("blast\n".utf8) {
            output.append(contentsOf: Self.payload)
            Self.asked.signal()
        } else {
            output.append(contentsOf: bytes)
        }
        return true
    }
}

/// Reads exactly `count` bytes (fails on end of file).
func receiveExactly(_ socket: Socket, _ count: Int) throws -> [UInt8] {
    var result: [UInt8] = []
    while result.count < count {
        let chunk = try socket.recv(count - result.count)
        if chunk.isEmpty { throw SocketError.closed(call: "recv (end of file after \(result.count) bytes)") }
        result += chunk
    }
    return result
}

/// Greets on connect, then echoes.
final class GreetingEchoHandler: EventStreamHandler {
    init(clientAddress: SocketAddress, server: BaseServer) {}
    func connected(output: inout [UInt8]) throws -> Bool {
        output += Array("hello\n".utf8)
        return true
    }
    func received(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8]) throws -> Bool {
        output.append(contentsOf: bytes)
        return true
    }
}

/// The byte at `index` of the backpressure test's stream.
private func patternByte(_ index: Int) -> UInt8 { UInt8(truncatingIfNeeded: index &* 31 &+ index >> 13) }

final class EventLoopTests: XCTestCase {
    func testManyPersistentClientsAreServedAtOnceByOneThread() throws {
        let server = try EventServer(EventLoopMixIn(handler: EchoEventHandler.self))
        let threadsBefore = threadCount()
        try withServing(server) { server in
            let clients = try (0..<300).map { _ in try connectClient(server.serverAddress) }
            defer { for client in clients { client.close() } }
            // Every connection is open at once; each round has 300 requests outstanding together.
            for round in 0..<3 {
                for (index, client) in clients.enumerated() { try client.sendAll("client \(index) round \(round)\n") }
                for (index, client) in clients.enumerated() {
                    let expected = "client \(index) round \(round)\n"
                    XCTAssertEqual(String(decoding: try receiveExactly(client, expected.utf8.count), as: UTF8.self), expected)
                }
            }
            XCTAssertEqual(server.loop.connectionCount, 300)
            // The serving thread plus one loop thread (and whatever the runtime adds), not one per client.
            XCTAssertLessThan(threadCount(), threadsBefore + 10)
            for client in clients { try client.shutdown(.write) }
            for client in clients { XCTAssertEqual(try client.recv(16), []) }
            XCTAssertTrue(eventually { server.loop.connectionCount == 0 })
        }
        XCTAssertEqual(server.errors.value, [])
    }

    func testClientThatDoesNotReadStopsTheReadingAndGetsEverythingLater() throws {
        let total = 8 << 20
        let server = try EventServer(EventLoopMixIn(handler: EchoEventHandler.self))
        // Small kernel buffers on the server's side too (accepted sockets inherit the listener's):
        // autotuned ones could hold all 8 MiB, and the test would prove nothing.
        try server.socket.setOption(.receiveBufferSize, 65536)
        try server.socket.setOption(.sendBufferSize, 65536)
        try withServing(server) { server in
            let client = try Socket(family: .inet, type: .stream)
            try client.setOption(.receiveBufferSize, 65536)
            try client.setOption(.sendBufferSize, 65536)
            try client.setTimeout(.seconds(20))
            try client.connect(server.serverAddress)
            defer { client.close() }
            let data = (0..<total).map(patternByte)
            // Send without reading until the server stops taking bytes for 500 ms.
            var sent = 0
            while sent < total {
                let count = data[sent...].withUnsafeBytes { raw in
                    Glibc.send(client.fileno(), raw.baseAddress, min(raw.count, 65536), Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL))
                }
                if count > 0 { sent += count; continue }
                XCTAssertTrue(count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "send: errno \(errno)")
                var entry = pollfd(fd: client.fileno(), events: Int16(POLLOUT), revents: 0)
                if poll(&entry, 1, 500) == 0 { break }
            }
            XCTAssertLessThan(sent, total, "the server kept reading a client that does not read")
            // Now read everything while sending the rest.
            let received = Locked<[UInt8]>([])
            let reader = try PosixThread.start {
                var bytes: [UInt8] = []
                bytes.reserveCapacity(total)
                while let chunk = try? client.recv(65536), !chunk.isEmpty { bytes += chunk }
                received.update { $0 = bytes }
            }
            try client.sendAll(Array(data[sent...]))
            try client.shutdown(.write)
            reader.join()
            let echoed = received.value
            XCTAssertEqual(echoed.count, total)
            XCTAssertTrue(echoed == data, "the echo differs from what was sent")
        }
        XCTAssertEqual(server.errors.value, [])
    }

    func testIdleTimeoutClosesOnlyTheSilentConnection() throws {
        let server = try EventServer(EventLoopMixIn(handler: EchoEventHandler.self, idleTimeout: .milliseconds(1500)))
        try withServing(server) { server in
            let silent = try connectClient(server.serverAddress)
            defer { silent.close() }
            let busy = try connectClient(server.serverAddress)
            defer { busy.close() }
            let started = ContinuousClock.now
            // The busy client keeps talking (every 100 ms, far inside the 1.5 s timeout even on a
            // loaded machine) until the silent one has been closed.
            var closed = false
            while !closed && ContinuousClock.now - started < ioTimeout {
                try busy.sendAll("ping\n")
                XCTAssertEqual(try receiveExactly(busy, 5), Array("ping\n".utf8))
                var entry = pollfd(fd: silent.fileno(), events: Int16(POLLIN), revents: 0)
                if poll(&entry, 1, 100) == 1 { closed = try silent.recv(16).isEmpty }
            }
            XCTAssertTrue(closed, "the silent connection was not closed")
            XCTAssertGreaterThanOrEqual(ContinuousClock.now - started, .milliseconds(1450))
            try busy.sendAll("still here\n")
            XCTAssertEqual(try receiveExactly(busy, 11), Array("still here\n".utf8))
            XCTAssertEqual(server.errors.value, ["recv: timed out"])
        }
    }

    func testHandlerSpeaksFirstThenServes() throws {
        let server = try EventServer(EventLoopMixIn(handler: GreetingEchoHandler.self))
        try withServing(server) { server in
            let client = try connectClient(server.serverAddress)
            defer { client.close() }
            XCTAssertEqual(try receiveExactly(client, 6), Array("hello\n".utf8))
            try client.sendAll("again\n")
            XCTAssertEqual(try receiveExactly(client, 6), Array("again\n".utf8))
            XCTAssertEqual(server.errors.value, [])
        }
    }

    func testHandlerErrorReachesHandleErrorAndClosesOnlyItsConnection() throws {
        let server = try EventServer(EventLoopMixIn(handler: FailingEchoHandler.self))
        try withServing(server) { server in
            let good = try connectClient(server.serverAddress)
            defer { good.close() }
            let bad = try connectClient(server.serverAddress)
            defer { bad.close() }
            try good.sendAll("hello\n")
            XCTAssertEqual(try receiveExactly(good, 6), Array("hello\n".utf8))
            try bad.sendAll("boom\n")
            XCTAssertEqual(try bad.recv(16), [])
            XCTAssertEqual(server.errors.value, ["boom from the handler"])
            try good.sendAll("again\n")
            XCTAssertEqual(try receiveExactly(good, 6), Array("again\n".utf8))
        }
    }

    func testConnectionsBeyondTheCapAreRefused() throws {
        let server = try EventServer(EventLoopMixIn(handler: EchoEventHandler.self, maxConnections: 2))
        try withServing(server) { server in
            let first = try connectClient(server.serverAddress)
            defer { first.close() }
            let second = try connectClient(server.serverAddress)
            defer { second.close() }
            for client in [first, second] {  // both taken over before the third is accepted
                try client.sendAll("x")
                XCTAssertEqual(try receiveExactly(client, 1), Array("x".utf8))
            }
            let third = try connectClient(server.serverAddress)
            defer { third.close() }
            XCTAssertEqual(try third.recv(16), [])
            XCTAssertEqual(server.errors.value, ["event loop is full (2 connections); connection refused"])
            try first.sendAll("y")
            XCTAssertEqual(try receiveExactly(first, 1), Array("y".utf8))
        }
    }
}
