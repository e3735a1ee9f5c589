// The Socket type's life cycle: bind/listen/accept/connect, connectEx, names, shutdown, close,
// options, socket pairs, adopting and detaching descriptors.
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

final class SocketBasicsTests: XCTestCase {
    func testBindListenAcceptConnectRoundTrip() throws {
        let server = try loopbackListener()
        defer { server.close() }
        let address = try server.getSockName()
        XCTAssertEqual(address.host, "127.0.0.1")
        XCTAssertNotEqual(address.port, 0, "port 0 binds a real port")

        let client = try Socket(family: .inet, type: .stream)
        defer { client.close() }
        try client.connect(address)
        let (connection, peer) = try server.accept()
        defer { connection.close() }

        XCTAssertEqual(peer, try client.getSockName(), "accept reports the client's address")
        XCTAssertEqual(try client.getPeerName(), address)
        XCTAssertEqual(try connection.getSockName(), address)
        XCTAssertEqual(try connection.getPeerName(), peer)
        XCTAssertEqual(connection.family, .inet)
        XCTAssertEqual(connection.type, .stream)
        XCTAssertNil(connection.timeout, "accepted sockets block, whatever the listener's mode")

        XCTAssertEqual(try client.send(Array("ping".utf8)), 4)
        XCTAssertEqual(try connection.recv(16), Array("ping".utf8))
        try connection.sendAll("pong")
        XCTAssertEqual(try client.recv(16), Array("pong".utf8))
    }

    func testAcceptedSocketsAreCloseOnExec() throws {
        let server = try loopbackListener()
        defer { server.close() }
        let client = try connectClient(try server.getSockName())
        defer { client.close() }
        let (connection, _) = try server.accept()
        defer { connection.close() }
        for socket in [server, client, connection] {
            XCTAssertNotEqual(fcntl(socket.fileno(), F_GETFD) & FD_CLOEXEC, 0, "\(socket) is close-on-exec")
        }
    }

    /// A port that refuses connections: bound (so nobody else takes it) but not listening.
    private func refusingPort() throws -> (Socket, SocketAddress) {
        let holder = try Socket(family: .inet, type: .stream)
        try holder.bind(loopback4)
        return (holder, try holder.getSockName())
    }

    func testConnectExReturnsECONNREFUSED() throws {
        let (holder, address) = try refusingPort()
        defer { holder.close() }
        let client = try Socket(family: .inet, type: .stream)
        defer { client.close() }
        XCTAssertEqual(try client.connectEx(address), ECONNREFUSED)

        let timed = try Socket(family: .inet, type: .stream)
        defer { timed.close() }
        try timed.setTimeout(ioTimeout)
        XCTAssertEqual(try timed.connectEx(address), ECONNREFUSED, "the same through the non-blocking path")
    }

    func testConnectExReturnsZeroOnSuccess() throws {
        let server = try loopbackListener()
        defer { server.close() }
        let client = try Socket(family: .inet, type: .stream)
        defer { client.close() }
        XCTAssertEqual(try client.connectEx(try server.getSockName()), 0)
    }

    func testConnectRefusedThrowsErrorNamingCallAndErrno() throws {
        let (holder, address) = try refusingPort()
        defer { holder.close() }
        let client = try Socket(family: .inet, type: .stream)
        defer { client.close() }
        XCTAssertThrowsError(try client.connect(address)) { error in
            guard let error = error as? SocketError else { return XCTFail("not a SocketError: \(error)") }
            XCTAssertEqual(error.errno, ECONNREFUSED)
            XCTAssertEqual(error, .system(call: "connect \(address)", errno: ECONNREFUSED))
            XCTAssertTrue(error.description.hasPrefix("connect \(address)"), error.description)
            XCTAssertTrue(error.description.contains("Connection refused"), error.description)
            XCTAssertTrue(error.description.contains("(errno \(ECONNREFUSED))"), error.description)
        }
    }

    func testShutdownWriteGivesPeerEndOfFile() throws {
        let (left, right) = try Socket.pair()
        defer { left.close(); right.close() }
        try left.sendAll("last words")
        try left.shutdown(.write)
        XCTAssertEqual(try readAll(right), Array("last words".utf8))
        XCTAssertEqual(try right.recv(10), [], "end of file stays end of file")
        try right.sendAll("still open")
        XCTAssertEqual(try left.recv(64), Array("still open".utf8), "the other direction still works")
    }

    func testShutdownOfUnconnectedSocketFailsWithENOTCONN() throws {
        let socket = try Socket(family: .inet, type: .stream)
        defer { socket.close() }
        XCTAssertThrowsError(try socket.shutdown(.readWrite)) { error in
            XCTAssertEqual((error as? SocketError)?.errno, ENOTCONN)
        }
    }

    func testCloseTwiceIsHarmlessAndClosedSocketsThrowClosed() throws {
        let socket = try Socket(family: .inet, type: .stream)
        let fd = socket.fileno()
        XCTAssertGreaterThanOrEqual(fd, 0)
        XCTAssertTrue(socket.isOpen)
        socket.close()
        socket.close()
        XCTAssertFalse(socket.isOpen)
        XCTAssertEqual(socket.fileno(), -1)
        XCTAssertEqual(fcntl(fd, F_GETFD), -1, "the descriptor really is closed")
        XCTAssertThrowsError(try socket.recv(1)) { error in
            XCTAssertEqual(error as? SocketError, .closed(call: "recv"))
            XCTAssertEqual((error as? SocketError)?.errno, EBADF)
            XCTAssertEqual("\(error)", "recv: socket is closed")
        }
        XCTAssertThrowsError(try socket.bind(loopback4)) { XCTAssertEqual($0 as? SocketError, .closed(call: "bind")) }
    }

    func testSocketOptions() throws {
        let socket = try Socket(family: .inet, type: .stream)
        defer { socket.close() }
        XCTAssertEqual(try socket.getOption(.reuseAddress), 0)
        try socket.setOption(.reuseAddress, true)
        XCTAssertNotEqual(try socket.getOption(.reuseAddress), 0)
        try socket.setOption(.keepAlive, true)
        XCTAssertNotEqual(try socket.getOption(.keepAlive), 0)
        try socket.setOption(.tcpNoDelay, true)
        XCTAssertNotEqual(try socket.getOption(.tcpNoDelay), 0)
        try socket.setOption(.receiveBufferSize, 65536)
        XCTAssertGreaterThanOrEqual(try socket.getOption(.receiveBufferSize), 65536)
        XCTAssertEqual(try socket.getOption(.type), SocketType.stream.rawValue)
        XCTAssertEqual(try socket.getOption(.domain), AddressFamily.inet.rawValue)
        XCTAssertEqual(try socket.getOption(.error), 0)
        XCTAssertEqual(try socket.getOption(.acceptConnections), 0)
        try socket.bind(loopback4)
        try socket.listen()
        XCTAssertEqual(try socket.getOption(.acceptConnections), 1)

        XCTAssertThrowsError(try socket.setOption(SocketOption(level: SOL_SOCKET, name: -1), 1)) { error in
            XCTAssertEqual(error as? SocketError, .system(call: "setsockopt", errno: ENOPROTOOPT))
        }

        let udp = try Socket(family: .inet, type: .datagram)
        defer { udp.close() }
        try udp.setOption(.broadcast, true)
        XCTAssertNotEqual(try udp.getOption(.broadcast), 0)
        XCTAssertEqual(try udp.getOption(.type), SocketType.datagram.rawValue)
    }

    func testIPv6OnlyOption() throws {
        try requireIPv6()
        let socket = try Socket(family: .inet6, type: .stream)
        defer { socket.close() }
        try socket.setOption(.ipv6Only, true)
        XCTAssertEqual(try socket.getOption(.ipv6Only), 1)
    }

    func testSocketPairCarriesBothDirections() throws {
        let (left, right) = try Socket.pair()
        defer { left.close(); right.close() }
        XCTAssertEqual(left.family, .unix)
        try left.sendAll("to the right")
        XCTAssertEqual(try right.recv(64), Array("to the right".utf8))
        try right.sendAll("to the left")
        XCTAssertEqual(try left.recv(64), Array("to the left".utf8))

        let (a, b) = try Socket.pair(type: .datagram)
        defer { a.close(); b.close() }
        try a.send(Array("one".utf8))
        try a.send(Array("two".utf8))
        XCTAssertEqual(try b.recv(64), Array("one".utf8), "datagram boundaries are kept")
        XCTAssertEqual(try b.recv(64), Array("two".utf8))
    }

    func testAdoptingAndDetachingDescriptors() throws {
        let original = try Socket(family: .inet, type: .datagram)
        let fd = original.detach()
        XCTAssertFalse(original.isOpen)
        XCTAssertGreaterThanOrEqual(fcntl(fd, F_GETFD), 0, "detach leaves the descriptor open")

        let adopted = try Socket(adopting: fd)
        XCTAssertEqual(adopted.family, .inet, "family read from the kernel")
        XCTAssertEqual(adopted.type, .datagram, "type read from the kernel")
        XCTAssertEqual(adopted.fileno(), fd)
        adopted.close()
        XCTAssertEqual(fcntl(fd, F_GETFD), -1, "the adopting socket owns and closes it")

        let notASocket = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { close(notASocket) }
        XCTAssertThrowsError(try Socket(adopting: notASocket)) { error in
            XCTAssertEqual((error as? SocketError)?.errno, ENOTSOCK)
        }
    }

    func testDeinitClosesTheDescriptor() throws {
        var fd: Int32 = -1
        do {
            let socket = try Socket(family: .inet, type: .stream)
            fd = socket.fileno()
        }
        XCTAssertEqual(fcntl(fd, F_GETFD), -1)
    }
}
