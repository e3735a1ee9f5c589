// shutdown(): it wakes serveForever at once (not after pollInterval), works before serving, from
// inside a handler, many times in a row (CPython issue #2302), and the loop can serve again.
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

/// Replies "bye" and stops the server from inside the handler (on the loop's own thread).
final class ShutdownFromHandler: BaseRequestHandler {
    override func handle() throws {
        server.shutdown()  // must only ask, or it would wait for itself
        // Read what the client sent (to its end) first: closing with unread input would reset the
        // connection, and the client's shutdown(.write) could fail with ENOTCONN.
        while try !request.recv(64).isEmpty {}
        try request.sendAll("bye")
    }
}

final class ShutdownTests: XCTestCase {
    func testShutdownIsFastDespiteALongPollInterval() throws {
        let server = try TCPServer(loopback4, EchoHandler.self)
        let background = try BackgroundServer(server, pollInterval: .seconds(10))
        // A served request proves the loop is running and back in poll.
        XCTAssertEqual(try streamExchange(server.serverAddress, "ready?"), "ready?")
        let elapsed = timed { background.stop() }
        XCTAssertLessThan(elapsed, .seconds(1), "shutdown took \(elapsed) with a 10 s poll interval")
    }

    func testShutdownRightAfterStartingIsFast() throws {
        for _ in 0..<5 {
            let server = try UDPServer(loopback4, EchoHandler.self)
            let background = try BackgroundServer(server, pollInterval: .seconds(10))
            let elapsed = timed { background.stop() }
            XCTAssertLessThan(elapsed, .seconds(1))
        }
    }

    func testManyServersStartedAndShutDownAtOnce() throws {
        // CPython's test_shutdown: shutdown() must always make the other thread leave serve_forever.
        let servers = try (0..<10).map { index -> BackgroundServer in
            let server: TCPServer = index.isMultiple(of: 2)
                ? try ThreadingTCPServer(loopback4, EchoHandler.self)
                : try UDPServer(loopback4, EchoHandler.self)
            return try BackgroundServer(server, pollInterval: .seconds(10))
        }
        let elapsed = timed { servers.forEach { $0.stop() } }
        XCTAssertLessThan(elapsed, .seconds(3))
    }

    func testShutdownBeforeServeForeverDoesNotHang() throws {
        let server = try TCPServer(loopback4, EchoHandler.self)
        defer { server.serverClose() }
        let elapsed = timed { server.shutdown() }
        XCTAssertLessThan(elapsed, .seconds(1), "no loop to wait for")

        // As in CPython, the request stands: the next serveForever returns at once.
        let background = try BackgroundServer(server, pollInterval: .seconds(10))
        XCTAssertTrue(background.loopExits(within: .seconds(2)), "serveForever honoured the earlier shutdown")
        background.stop(close: false)

        // And the server serves normally afterwards.
        try withServing(server) { server in
            XCTAssertEqual(try streamExchange(server.serverAddress, "after"), "after")
        }
    }

    func testShutdownFromInsideAHandlerStopsTheLoopWithoutDeadlock() throws {
        let server = try TCPServer(loopback4, ShutdownFromHandler.self)
        let background = try BackgroundServer(server, pollInterval: .seconds(10))
        XCTAssertEqual(try streamExchange(server.serverAddress, "stop"), "bye")
        XCTAssertTrue(background.loopExits(within: .seconds(2)), "the loop ended after the handler")
        background.stop()
    }

    func testServeForeverRunsAgainAfterShutdown() throws {
        let server = try ThreadingTCPServer(loopback4, EchoHandler.self)
        for round in 0..<3 {
            let background = try BackgroundServer(server)
            XCTAssertEqual(try streamExchange(server.serverAddress, "round \(round)"), "round \(round)")
            background.stop(close: round == 2)
        }
    }

    func testRequestShutdownAsksWithoutWaiting() throws {
        let server = try TCPServer(loopback4, EchoHandler.self)
        let background = try BackgroundServer(server, pollInterval: .seconds(10))
        XCTAssertEqual(try streamExchange(server.serverAddress, "x"), "x")
        let elapsed = timed { server.requestShutdown() }
        XCTAssertLessThan(elapsed, .seconds(1))
        XCTAssertTrue(background.loopExits(within: .seconds(2)))
        background.stop()
    }

    func testClientsQueuedAtShutdownAreNotAcceptedAfterClose() throws {
        let server = try TCPServer(loopback4, EchoHandler.self)
        let address = server.serverAddress
        try withServing(server) { _ in }
        XCTAssertThrowsError(try connectClient(address), "the listening socket is closed") { error in
            XCTAssertEqual((error as? SocketError)?.errno, ECONNREFUSED)
        }
    }
}
