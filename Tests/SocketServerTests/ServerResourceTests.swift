// Server resources: bind failures throw and leak nothing, port 0 reports the real port, IPv6,
// closing { }, closing without serving, bind/activate by hand, inherited sockets, thread joining.
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

/// Sets the server's `started`, takes 300 ms, then sets `finished` (to see whether serverClose waited).
final class SlowHandler: BaseRequestHandler {
    override func handle() throws {
        let server = server as! FlaggedThreadingServer
        server.started.update { $0 = true }
        usleep(300_000)
        server.finished.update { $0 = true }
    }
}

final class FlaggedThreadingServer: ThreadingTCPServer, @unchecked Sendable {
    let started = Locked(false)
    let finished = Locked(false)
}

final class ServerResourceTests: XCTestCase {
    func testBindFailureThrowsAndLeavesNoDescriptorOpen() throws {
        let first = try TCPServer(loopback4, EchoHandler.self)
        defer { first.serverClose() }
        let taken = first.serverAddress
        for _ in 0..<3 {
            try assertNoDescriptorLeak("by failed binds") {
                XCTAssertThrowsError(try TCPServer(taken, EchoHandler.self)) { error in
                    XCTAssertEqual(error as? SocketError, .system(call: "bind \(taken)", errno: EADDRINUSE))
                    XCTAssertTrue("\(error)".contains("Address already in use"), "\(error)")
                }
                XCTAssertThrowsError(try ThreadingTCPServer(taken, EchoHandler.self))
                XCTAssertThrowsError(try ForkingTCPServer(taken, EchoHandler.self))
            }
        }
    }

    func testUnixBindFailuresLeaveNoDescriptorOpen() throws {
        let directory = try TemporaryDirectory()
        let path = directory.file("taken.sock")
        let first = try UnixStreamServer(path: path, EchoHandler.self)
        defer { first.serverClose() }
        try assertNoDescriptorLeak("by failed unix binds") {
            XCTAssertThrowsError(try UnixStreamServer(path: path, EchoHandler.self)) { error in
                XCTAssertEqual((error as? SocketError)?.errno, EADDRINUSE)
            }
            let long = directory.path + "/" + String(repeating: "x", count: 120)
            XCTAssertThrowsError(try UnixDatagramServer(path: long, EchoHandler.self)) { error in
                XCTAssertEqual(error as? SocketError, .pathTooLong(path: long, maximum: SocketAddress.maximumUnixPathLength))
            }
            XCTAssertThrowsError(try UnixStreamServer(path: directory.file("missing/dir.sock"), EchoHandler.self)) { error in
                XCTAssertEqual((error as? SocketError)?.errno, ENOENT)
            }
            _ = try TemporaryDirectory()  // the helper itself leaks nothing either
        }
    }

    func testPortZeroReportsTheRealPort() throws {
        for server in [try TCPServer(loopback4, EchoHandler.self) as TCPServer, try UDPServer(loopback4, EchoHandler.self)] {
            defer { server.serverClose() }
            let port = try XCTUnwrap(server.serverAddress.port)
            XCTAssertNotEqual(port, 0)
            XCTAssertEqual(server.serverAddress, try server.socket.getSockName())
        }
    }

    func testIPv6Servers() throws {
        try requireIPv6()
        let any6 = SocketAddress.inet6(host: "::1", port: 0)
        let tcp = try ThreadingTCPServer(any6, EchoHandler.self)
        XCTAssertEqual(tcp.socket.family, .inet6)
        try withServing(tcp) { server in
            XCTAssertEqual(server.serverAddress.host, "::1")
            XCTAssertTrue(server.serverAddress.description.hasPrefix("[::1]:"))
            XCTAssertEqual(try streamExchange(server.serverAddress, "over IPv6"), "over IPv6")
        }
        let udp = try UDPServer(("::1", 0), EchoHandler.self)
        XCTAssertEqual(udp.socket.family, .inet6)
        try withServing(udp) { server in
            XCTAssertEqual(try datagramExchange(server.serverAddress, "datagram over IPv6"), "datagram over IPv6")
        }
    }

    func testClosingClosesTheServer() throws {
        let server = try TCPServer(loopback4, EchoHandler.self)
        let port = server.closing { server -> Int in
            XCTAssertTrue((server as! TCPServer).socket.isOpen)
            return server.serverAddress.port!
        }
        XCTAssertNotEqual(port, 0)
        XCTAssertFalse(server.socket.isOpen, "closing { } called serverClose")

        let other = try UDPServer(loopback4, EchoHandler.self)
        XCTAssertThrowsError(try other.closing { _ in throw Boom() })
        XCTAssertFalse(other.socket.isOpen, "closed even when the body throws")
    }

    func testClosingImmediatelyWithoutServing() throws {
        // CPython's test_close_immediately: creating and closing must not hang or leak.
        try assertNoDescriptorLeak("by servers never served") {
            let servers: [TCPServer] = [
                try ThreadingTCPServer(loopback4, EchoHandler.self),
                try ForkingTCPServer(loopback4, EchoHandler.self),
                try TCPServer(loopback4, EchoHandler.self, concurrency: ThreadPoolMixIn()),
                try ForkingUDPServer(loopback4, EchoHandler.self),
            ]
            let elapsed = timed { servers.forEach { $0.serverClose() } }
            XCTAssertLessThan(elapsed, .seconds(1))
        }
    }

    func testBindAndActivateByHand() throws {
        let server = try TCPServer(loopback4, EchoHandler.self, bindAndActivate: false)
        defer { server.serverClose() }
        XCTAssertEqual(server.serverAddress, loopback4, "not bound yet")
        server.allowReuseAddress = true
        server.requestQueueSize = 16
        try server.serverBind()
        XCTAssertNotEqual(server.serverAddress.port, 0)
        XCTAssertNotEqual(try server.socket.getOption(.reuseAddress), 0)
        try server.serverActivate()
        XCTAssertEqual(try server.socket.getOption(.acceptConnections), 1)
        try withServing(server) { server in
            XCTAssertEqual(try streamExchange(server.serverAddress, "by hand"), "by hand")
        }
    }

    func testAllowReusePortLetsTwoServersShareAPort() throws {
        let first = try TCPServer(loopback4, EchoHandler.self, bindAndActivate: false)
        defer { first.serverClose() }
        first.allowReusePort = true
        try first.serverBind()
        try first.serverActivate()
        let second = try TCPServer(first.serverAddress, EchoHandler.self, bindAndActivate: false)
        defer { second.serverClose() }
        second.allowReusePort = true
        try second.serverBind()
        XCTAssertEqual(second.serverAddress, first.serverAddress)
    }

    func testServingAnInheritedListeningSocket() throws {
        let socket = try Socket(family: .inet, type: .stream)
        try socket.bind(loopback4)
        try socket.listen()
        let server = try ThreadingTCPServer(socket: socket, EchoHandler.self)
        XCTAssertEqual(server.serverAddress, try socket.getSockName())
        try withServing(server) { server in
            XCTAssertEqual(try streamExchange(server.serverAddress, "inherited"), "inherited")
        }
        XCTAssertFalse(socket.isOpen)
    }

    func testThreadsAreJoinedByServerClose() throws {
        let threadsBefore = threadCount()
        let server = try FlaggedThreadingServer(loopback4, SlowHandler.self)
        let background = try BackgroundServer(server)
        let client = try connectClient(server.serverAddress)
        client.close()
        XCTAssertTrue(eventually { server.started.value }, "the request thread started")
        background.stop()
        XCTAssertTrue(server.finished.value, "serverClose waited for the request thread (blockOnClose)")
        XCTAssertEqual(server.threading?.threadCount, 0)
        XCTAssertTrue(eventually { threadCount() <= threadsBefore })
    }

    func testDaemonThreadsAreNotWaitedFor() throws {
        let server = try FlaggedThreadingServer(loopback4, SlowHandler.self)
        server.daemonThreads = true
        XCTAssertTrue(server.daemonThreads)
        let background = try BackgroundServer(server)
        let client = try connectClient(server.serverAddress)
        client.close()
        XCTAssertTrue(eventually { server.started.value }, "the request thread started")
        let elapsed = timed { background.stop() }
        XCTAssertFalse(server.finished.value)
        XCTAssertEqual(server.threading?.threadCount, 0, "daemon threads are not tracked")
        XCTAssertLessThan(elapsed, .milliseconds(250), "daemon threads are not joined")
        XCTAssertTrue(eventually { server.finished.value }, "the detached thread still ran to the end")
    }
}
