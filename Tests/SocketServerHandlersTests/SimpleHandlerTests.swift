// echo, discard, daytime and upper over TCP, UDP, Unix stream and Unix datagram servers.
import Foundation
import XCTest
import SocketServer
import SocketServerHandlers
import SocketServerTestSupport

#if canImport(Glibc)
import Glibc
#endif

final class SimpleHandlerTests: XCTestCase {
    private var directory = ""
    /// The servers a test started, stopped after it.
    private var servings: [Serving] = []

    override func setUpWithError() throws {
        directory = try makeTemporaryDirectory()
    }

    override func tearDown() {
        for serving in servings.reversed() { serving.stop() }
        servings = []
        removeTree(directory)
    }

    /// Serves `server` on a thread until the test ends.
    private func serve<Server: BaseServer>(_ server: Server) throws -> Server {
        servings.append(try Serving(server))
        return server
    }

    /// A TCP server running `handler` and a client connected to it.
    private func tcp(_ handler: BaseRequestHandler.Type, idleTimeout: Duration? = .seconds(10)) throws -> (HostStreamServer, Socket) {
        let server = try serve(HostStreamServer(.inet(host: "127.0.0.1", port: 0), handler, socketTimeout: idleTimeout))
        return (server, try connectClient(server.serverAddress))
    }

    private func udp(_ handler: BaseRequestHandler.Type) throws -> HostDatagramServer {
        try serve(HostDatagramServer(.inet(host: "127.0.0.1", port: 0), handler))
    }

    /// The client's end of file ends the exchange: the server sends nothing more and closes, and
    /// its handler met no error.
    private func assertEndsCleanly(_ client: Socket, _ server: HostStreamServer, file: StaticString = #filePath, line: UInt = #line) throws {
        try client.shutdown(.write)
        XCTAssertEqual(try readAll(client), [], file: file, line: line)
        XCTAssertEqual(server.state.errors, [], file: file, line: line)
    }

    /// Sends one datagram from a fresh UDP client and returns the reply.
    private func datagramExchange(_ server: BaseServer, _ payload: [UInt8]) throws -> [UInt8] {
        let client = try udpClient()
        try client.sendTo(payload, server.serverAddress)
        let (reply, from) = try client.recvFrom(65536)
        XCTAssertEqual(from, server.serverAddress)
        return reply
    }

    // MARK: echo

    func testEchoStreamEchoesChunksUntilEOF() throws {
        let (server, client) = try tcp(EchoStreamHandler.self)
        for size in [1, 10, 1000, 16384, 40000] {
            let chunk = patternBytes(size, seed: UInt64(size))
            try client.sendAll(chunk)
            XCTAssertEqual(try readExactly(client, size), chunk)
        }
        try assertEndsCleanly(client, server)
    }

    func testEchoStreamLargeTransferWithConcurrentWriter() throws {
        let (_, client) = try tcp(EchoStreamHandler.self)
        let payload = patternBytes(3 << 20)
        let writer = try PosixThread.start { [client] in
            try? client.sendAll(payload)
            try? client.shutdown(.write)
        }
        let echoed = try readAll(client)
        writer.join()
        XCTAssertEqual(echoed.count, payload.count)
        XCTAssertTrue(echoed == payload)
    }

    func testEchoDatagram() throws {
        let server = try udp(EchoDatagramHandler.self)
        XCTAssertEqual(try datagramExchange(server, Array("ping".utf8)), Array("ping".utf8))
        let big = patternBytes(8000)
        XCTAssertEqual(try datagramExchange(server, big), big)
        XCTAssertEqual(try datagramExchange(server, []), [])
    }

    func testEchoOverUnixStreamAndUnixDatagram() throws {
        let streamPath = directory + "/echo.sock"
        _ = try serve(HostStreamServer(.unix(path: streamPath), EchoStreamHandler.self))
        let client = try connectClient(.unix(path: streamPath))
        try client.sendAll(Array("over unix\n".utf8))
        try client.shutdown(.write)
        XCTAssertEqual(String(decoding: try readAll(client), as: UTF8.self), "over unix\n")

        let datagramPath = directory + "/echo.dgram"
        let datagram = try serve(HostDatagramServer(.unix(path: datagramPath), EchoDatagramHandler.self))
        let dclient = try Socket(family: .unix, type: .datagram)
        try dclient.setTimeout(ioTimeout)
        try dclient.bind(.unix(path: directory + "/client.dgram"))
        try dclient.sendTo(Array("dgram".utf8), .unix(path: datagramPath))
        XCTAssertEqual(try dclient.recvFrom(100).0, Array("dgram".utf8))

        // An unbound client cannot be answered: the handler skips the reply instead of failing.
        let unbound = try Socket(family: .unix, type: .datagram)
        try unbound.sendTo(Array("nobody".utf8), .unix(path: datagramPath))
        try dclient.sendTo(Array("after".utf8), .unix(path: datagramPath))
        XCTAssertEqual(try dclient.recvFrom(100).0, Array("after".utf8))
        XCTAssertEqual(datagram.state.errors, [])
    }

    func testIdleTimeoutEndsConnectionAndIsReported() throws {
        let (server, client) = try tcp(EchoStreamHandler.self, idleTimeout: .milliseconds(200))
        try client.sendAll(Array("x".utf8))
        XCTAssertEqual(try readExactly(client, 1), Array("x".utf8))
        let started = ContinuousClock.now
        XCTAssertEqual(try readAll(client), [], "the server closes an idle connection")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(5))
        // The handler lets SocketError.timeout propagate; the server's handleError sees it.
        eventually(within: .seconds(1), every: .milliseconds(10)) { !server.state.errors.isEmpty }
        XCTAssertEqual(server.state.errors.count, 1)
        XCTAssertTrue(server.state.errors.first?.contains("timed out") ?? false, "\(server.state.errors)")
    }

    // MARK: discard

    func testDiscardStreamSendsNothing() throws {
        let (server, client) = try tcp(DiscardStreamHandler.self)
        try client.sendAll(patternBytes(200_000))
        try assertEndsCleanly(client, server)
    }

    func testDiscardDatagramSendsNoReply() throws {
        let server = try udp(DiscardDatagramHandler.self)
        let client = try udpClient(timeout: .milliseconds(300))
        try client.sendTo(Array("drop me".utf8), server.serverAddress)
        XCTAssertThrowsError(try client.recvFrom(100)) { error in
            XCTAssertEqual(error as? SocketError, .timeout(call: "recvfrom"))
        }
    }

    // MARK: daytime

    /// `Monday, November 23, 2026 11:20:00-UTC\r\n`
    private func assertDaytimeLine(_ text: String, file: StaticString = #filePath, line: UInt = #line) {
        let pattern = #"^(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, (January|February|March|April|May|June|July|August|September|October|November|December) [1-9][0-9]?, [0-9]{4} [0-2][0-9]:[0-5][0-9]:[0-6][0-9]-[A-Za-z0-9+-]+\r\n$"#
        XCTAssertNotNil(text.range(of: pattern, options: .regularExpression), "bad daytime line \(text.debugDescription)", file: file, line: line)
    }

    func testDaytimeLineFormat() throws {
        assertDaytimeLine(Daytime.line())
        assertDaytimeLine(Daytime.line(at: 1_700_000_000))
        // When the process runs in UTC the line is exactly predictable.
        var seconds: time_t = 1_700_000_000
        var parts = tm()
        localtime_r(&seconds, &parts)
        if parts.tm_gmtoff == 0, Daytime.line(at: 0).hasSuffix("-UTC\r\n") {
            XCTAssertEqual(Daytime.line(at: 1_700_000_000), "Tuesday, November 14, 2023 22:13:20-UTC\r\n")
            XCTAssertEqual(Daytime.line(at: 1_767_225_600 + 5 * 86400), "Tuesday, January 6, 2026 00:00:00-UTC\r\n")
        }
    }

    func testDaytimeStreamSendsOneLineAndCloses() throws {
        let (_, client) = try tcp(DaytimeStreamHandler.self)
        assertDaytimeLine(String(decoding: try readAll(client), as: UTF8.self))
    }

    func testDaytimeDatagram() throws {
        let server = try udp(DaytimeDatagramHandler.self)
        assertDaytimeLine(String(decoding: try datagramExchange(server, Array("what time?".utf8)), as: UTF8.self))
        assertDaytimeLine(String(decoding: try datagramExchange(server, []), as: UTF8.self))
    }

    // MARK: upper

    func testUpperStreamUppercasesAsciiOnly() throws {
        let (server, client) = try tcp(UpperStreamHandler.self)
        let text = "Hello, World! abc xyz {|} äöü é 123\n"
        try client.sendAll(Array(text.utf8))
        XCTAssertEqual(String(decoding: try readExactly(client, text.utf8.count), as: UTF8.self), "HELLO, WORLD! ABC XYZ {|} äöü é 123\n")
        let bytes = (0...255).map { UInt8($0) }
        try client.sendAll(bytes)
        let expected = bytes.map { (0x61...0x7A).contains($0) ? $0 - 0x20 : $0 }
        XCTAssertEqual(try readExactly(client, 256), expected)
        try assertEndsCleanly(client, server)
    }

    func testUpperDatagram() throws {
        let server = try udp(UpperDatagramHandler.self)
        XCTAssertEqual(String(decoding: try datagramExchange(server, Array("python socketserver".utf8)), as: UTF8.self), "PYTHON SOCKETSERVER")
    }

    func testHandlersWorkWithoutAHost() throws {
        // A plain library server (not a HandlerHost) runs the same handlers.
        let server = try serve(TCPServer(.inet(host: "127.0.0.1", port: 0), UpperStreamHandler.self))
        let client = try connectClient(server.serverAddress)
        try client.sendAll(Array("plain".utf8))
        try client.shutdown(.write)
        XCTAssertEqual(String(decoding: try readAll(client), as: UTF8.self), "PLAIN")
    }
}
