// serveForever's loop: a wakeup that comes without a shutdown (from a forked child's copy of the
// server) is cleared instead of spinning the loop, and a negative pollInterval polls without
// blocking, as CPython does for timeouts <= 0.
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

/// Counts the loop's iterations (serviceActions runs once per iteration).
final class LoopCountingServer: TCPServer, @unchecked Sendable {
    let loops = Locked(0)

    override func serviceActions() {
        loops.update { $0 += 1 }
        super.serviceActions()
    }
}

/// The same, forking: its handlers run in child processes.
final class LoopCountingForkingServer: ForkingTCPServer, @unchecked Sendable {
    let loops = Locked(0)

    override func serviceActions() {
        loops.update { $0 += 1 }
        super.serviceActions()
    }
}

/// Runs in a forked child: asks its copy of the server to stop, which sets the child's flag only but
/// signals the eventfd it shares with the parent, then replies.
final class ChildRequestsShutdownHandler: BaseRequestHandler {
    override func handle() throws {
        server.requestShutdown()
        try request.sendAll("asked")
    }
}

final class ServeLoopTests: XCTestCase {
    func testAWakeupWithoutAShutdownDoesNotSpinTheLoop() throws {
        let server = try LoopCountingForkingServer(loopback4, ChildRequestsShutdownHandler.self)
        let background = try BackgroundServer(server, pollInterval: .seconds(10))
        defer { background.stop() }
        // The reply comes after the child signalled the shared eventfd.
        XCTAssertEqual(try streamExchange(server.serverAddress, ""), "asked")
        let before = server.loops.value
        usleep(500_000)  // a window to count iterations in, not a wait for an event
        let iterations = server.loops.value - before
        // Woken once (or not at all, if it already was): a loop left signalled spun thousands of times.
        XCTAssertLessThan(iterations, 20, "the loop went round \(iterations) times in 0.5 s with a 10 s poll interval")
        XCTAssertFalse(background.loopExits(within: .zero), "the parent was not asked to stop")
        XCTAssertEqual(try streamExchange(server.serverAddress, ""), "asked", "the parent still serves")
    }

    func testANegativePollIntervalPollsWithoutBlocking() throws {
        let server = try LoopCountingServer(loopback4, EchoHandler.self)
        let background = try BackgroundServer(server, pollInterval: .milliseconds(-1))
        defer { background.stop() }
        // poll(2) takes a negative timeout as "forever": before the fix no iteration ended without a request.
        XCTAssertTrue(eventually { server.loops.value >= 10 }, "serviceActions ran \(server.loops.value) times")
        XCTAssertEqual(try streamExchange(server.serverAddress, "still serves"), "still serves")
        let elapsed = timed { background.stop() }
        XCTAssertLessThan(elapsed, .seconds(1))
    }
}
