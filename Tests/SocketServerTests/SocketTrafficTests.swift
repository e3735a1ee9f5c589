// What a socket carried: every send and receive call counts its bytes on the socket, an event loop
// counts the bytes it moves for a connection, and `sendTo` counts per thread; a server's context
// rides on its requests, and a forking server says which child serves which request.
import Glibc
import SocketServer
import SocketServerHandlers
import SocketServerTestSupport
import XCTest

/// A TCP echo server on an event loop that keeps each connection's socket when it ends.
final class CountingEventServer: TCPServer, @unchecked Sendable {
    let ended = Locked<[(sent: UInt64, received: UInt64, context: String?)]>([])

    init() throws {
        try super.init(try SocketAddress(host: "127.0.0.1", port: 0), BaseRequestHandler.self,
                       concurrency: EventLoopMixIn(handler: EchoEventHandler.self))
    }

    override func getRequest() throws -> Request? {
        try super.getRequest()?.attaching(Tag(name: "tagged"))
    }

    override func shutdownRequest(_ request: Request) {
        super.shutdownRequest(request)
        let tag = (request.context as? Tag)?.name
        ended.update { $0.append((request.socket.bytesSent, request.socket.bytesReceived, tag)) }
    }

    final class Tag {
        let name: String
        init(name: String) { self.name = name }
    }
}

final class SocketTrafficTests: XCTestCase {
    func testSendsAndReceivesAreCountedOnTheSocket() throws {
        let (left, right) = try Socket.pair()
        defer { left.close(); right.close() }
        try left.sendAll(Array(repeating: 1, count: 300))
        XCTAssertEqual(try left.send([1, 2, 3]), 3)
        XCTAssertEqual(try readExactly(right, 303).count, 303)
        XCTAssertEqual(left.bytesSent, 303)
        XCTAssertEqual(left.bytesReceived, 0)
        XCTAssertEqual(right.bytesReceived, 303)
        XCTAssertEqual(right.bytesSent, 0)
    }

    func testSendToCountsOnTheSocketAndOnTheThread() throws {
        let server = try Socket(family: .inet, type: .datagram)
        defer { server.close() }
        try server.bind(loopback4)
        let client = try Socket(family: .inet, type: .datagram)
        defer { client.close() }
        let before = Socket.bytesSentToByThisThread
        try client.sendTo(Array("twelve bytes".utf8), server.getSockName())
        XCTAssertEqual(Socket.bytesSentToByThisThread - before, 12)
        XCTAssertEqual(client.bytesSent, 12)
        let other = try PosixThread.start { XCTAssertEqual(Socket.bytesSentToByThisThread, 0, "another thread's count is its own") }
        other.join()
        XCTAssertEqual(try server.recvFrom(100).0.count, 12)
        XCTAssertEqual(server.bytesReceived, 12)
    }

    func testAnEventLoopCountsEachConnectionsBytesAndKeepsTheContext() throws {
        let server = try CountingEventServer()
        let thread = try PosixThread.start { try? server.serveForever(pollInterval: .milliseconds(50)) }
        defer {
            server.shutdown()
            thread.join()
            server.serverClose()
        }
        guard case .inet(_, let port) = server.serverAddress else { return XCTFail("no port") }
        XCTAssertEqual(try tcpRoundTrip(port: Int(port), "seventeen bytes!\n"), "seventeen bytes!\n")
        XCTAssertTrue(eventually { server.ended.value.count == 1 })
        let ended = server.ended.value.first
        XCTAssertEqual(ended?.sent, 17)
        XCTAssertEqual(ended?.received, 17)
        XCTAssertEqual(ended?.context, "tagged", "what getRequest attached reaches shutdownRequest")
    }

    func testAForkingServerNamesTheChildOfEachRequest() throws {
        let forking = ForkingMixIn()
        let started = Locked<[pid_t]>([])
        let exited = Locked<[pid_t]>([])
        forking.childStarted = { pid, _ in started.update { $0.append(pid) } }
        forking.childExited = { pid, _ in exited.update { $0.append(pid) } }
        let server = try TCPServer(("127.0.0.1", 0), EchoStreamHandler.self, concurrency: forking)
        defer { server.serverClose() }
        let client = try connectClient(server.serverAddress)
        defer { client.close() }
        try client.sendAll("forked\n")
        try client.shutdown(.write)
        try server.handleRequest()  // forks the child from this (the test's) thread
        XCTAssertEqual(try readAllText(client), "forked\n")
        forking.collectChildren(blocking: true)
        XCTAssertEqual(started.value.count, 1)
        XCTAssertEqual(started.value, exited.value, "the child that started is the one reaped")
    }
}
