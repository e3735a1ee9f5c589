// Moving bytes: recv/send/sendAll with buffers larger than the kernel's, recv(into:),
// recvFrom/sendTo for UDP and Unix datagrams, truncation, and sendFile.
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

final class SocketIOTests: XCTestCase {
    /// A connected TCP pair over loopback.
    private func tcpPair() throws -> (client: Socket, server: Socket) {
        let listener = try Socket(family: .inet, type: .stream)
        defer { listener.close() }
        try listener.bind(loopback4)
        try listener.listen()
        let client = try connectClient(try listener.getSockName())
        let (server, _) = try listener.accept()
        try server.setTimeout(ioTimeout)
        return (client, server)
    }

    /// A deterministic pattern, so reordered or lost bytes are noticed.
    private func pattern(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
    }

    /// Reads `receiver` to its end while a thread runs `send`, then half-closes `sender`.
    private func readToEnd(_ receiver: Socket, whileSending send: @escaping @Sendable () -> Void, from sender: Socket) throws -> [UInt8] {
        let thread = try PosixThread.start {
            send()
            try? sender.shutdown(.write)
        }
        defer { thread.join() }
        return try readAll(receiver)
    }

    func testSendAllOfABufferLargerThanTheKernelsArrivesWhole() throws {
        let (client, server) = try tcpPair()
        defer { client.close(); server.close() }
        let payload = pattern(8 << 20)
        let received = try readToEnd(server, whileSending: {
            do { try client.sendAll(payload) } catch { XCTFail("sendAll: \(error)") }
        }, from: client)
        XCTAssertEqual(received.count, payload.count)
        XCTAssertTrue(received == payload, "bytes arrive in order and intact")
    }

    func testSendMayBePartialAndReportsTheCount() throws {
        let (client, server) = try tcpPair()
        defer { client.close(); server.close() }
        try client.setBlocking(false)
        let big = [UInt8](repeating: 7, count: 64 << 20)
        let sent = try client.send(big)
        XCTAssertGreaterThan(sent, 0)
        XCTAssertLessThan(sent, big.count, "a non-blocking send takes only what fits")
        var sawEAGAIN = false
        for _ in 0..<100 where !sawEAGAIN {
            do { try client.send(big) } catch { sawEAGAIN = (error.errno == EAGAIN); if !sawEAGAIN { throw error } }
        }
        XCTAssertTrue(sawEAGAIN, "once the buffers are full, send reports EAGAIN")
    }

    func testSendAllAcceptsSlicesAndRawBuffers() throws {
        let (left, right) = try Socket.pair()
        defer { left.close(); right.close() }
        let bytes = Array("0123456789".utf8)
        try left.sendAll(bytes[2..<5])
        try bytes.withUnsafeBytes { try left.sendAll($0) }
        try left.shutdown(.write)
        XCTAssertEqual(String(decoding: try readAll(right), as: UTF8.self), "2340123456789")
    }

    func testRecvIntoCallerMemory() throws {
        let (left, right) = try Socket.pair()
        defer { left.close(); right.close() }
        try left.sendAll("abcdef")
        var buffer = [UInt8](repeating: 0, count: 4)
        let count = try buffer.withUnsafeMutableBytes { try right.recv(into: $0) }
        XCTAssertEqual(count, 4)
        XCTAssertEqual(buffer, Array("abcd".utf8))
        XCTAssertEqual(try right.recv(0), [], "a zero-byte recv returns nothing")
        XCTAssertEqual(try right.recv(64), Array("ef".utf8))
    }

    /// Two datagram sockets bound to `serverAddress` and `clientAddress`, with the test timeout.
    private func boundDatagramPair(_ serverAddress: SocketAddress, _ clientAddress: SocketAddress) throws -> (server: Socket, client: Socket) {
        let server = try Socket(family: serverAddress.family, type: .datagram)
        let client = try Socket(family: clientAddress.family, type: .datagram)
        for (socket, address) in [(server, serverAddress), (client, clientAddress)] {
            try socket.bind(address)
            try socket.setTimeout(ioTimeout)
        }
        return (server, client)
    }

    func testRecvFromAndSendToOverUDP() throws {
        let (server, client) = try boundDatagramPair(loopback4, loopback4)
        defer { server.close(); client.close() }
        let serverAddress = try server.getSockName()

        XCTAssertEqual(try client.sendTo(Array("hello".utf8), serverAddress), 5)
        let (data, from) = try server.recvFrom(1024)
        XCTAssertEqual(data, Array("hello".utf8))
        XCTAssertEqual(from, try client.getSockName(), "recvFrom reports the sender")

        try server.sendTo(Array("HELLO".utf8), from)
        let (reply, replyFrom) = try client.recvFrom(1024)
        XCTAssertEqual(reply, Array("HELLO".utf8))
        XCTAssertEqual(replyFrom, serverAddress)
    }

    func testDatagramLongerThanTheBufferIsTruncated() throws {
        let (a, b) = try Socket.pair(type: .datagram)
        defer { a.close(); b.close() }
        try a.send(Array("0123456789".utf8))
        try a.send(Array("next".utf8))
        let (data, _) = try b.recvFrom(4)
        XCTAssertEqual(data, Array("0123".utf8), "the rest of the datagram is dropped")
        XCTAssertEqual(try b.recvFrom(64).0, Array("next".utf8))
    }

    func testRecvFromIfReadyReturnsNilAtOnceWhenNothingWaits() throws {
        let socket = try Socket(family: .inet, type: .datagram)
        defer { socket.close() }
        try socket.bind(loopback4)
        try socket.setNonBlockingFlag(true)  // what servers do; the socket's timeout stays nil
        let elapsed = try timed { XCTAssertNil(try socket.recvFromIfReady(64)) }
        XCTAssertLessThan(elapsed, .seconds(1))
        try socket.sendTo(Array("x".utf8), try socket.getSockName())
        XCTAssertEqual(try socket.recvFromIfReady(64)?.0, Array("x".utf8))
    }

    func testRecvFromAndSendToOverUnixDatagrams() throws {
        let directory = try TemporaryDirectory()
        let serverAddress = SocketAddress.unix(path: directory.file("server.sock"))
        let clientAddress = SocketAddress.unix(path: directory.file("client.sock"))
        let (server, client) = try boundDatagramPair(serverAddress, clientAddress)
        defer { server.close(); client.close() }

        try client.sendTo(Array("ping".utf8), serverAddress)
        let (data, from) = try server.recvFrom(64)
        XCTAssertEqual(data, Array("ping".utf8))
        XCTAssertEqual(from, clientAddress)
        try server.sendTo(Array("pong".utf8), from)
        XCTAssertEqual(try client.recvFrom(64).0, Array("pong".utf8))
    }

    func testUnboundUnixDatagramSenderIsUnnamed() throws {
        let directory = try TemporaryDirectory()
        let serverAddress = SocketAddress.unix(path: directory.file("server.sock"))
        let server = try Socket(family: .unix, type: .datagram)
        let client = try Socket(family: .unix, type: .datagram)
        defer { server.close(); client.close() }
        try server.bind(serverAddress)
        try server.setTimeout(ioTimeout)
        try client.sendTo(Array("anonymous".utf8), serverAddress)
        let (_, from) = try server.recvFrom(64)
        XCTAssertEqual(from, .unix(path: ""))
        XCTAssertEqual(from.description, "(unnamed)")
    }

    /// A temporary file holding `bytes`, opened for reading.
    private func fileWith(_ bytes: [UInt8], in directory: TemporaryDirectory) throws -> Int32 {
        let path = directory.file("payload.bin")
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw SocketError.system(call: "open", errno: errno) }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else { throw SocketError.system(call: "write", errno: errno) }
            offset += written
        }
        return fd
    }

    func testSendFileSendsTheWholeFile() throws {
        let directory = try TemporaryDirectory()
        let payload = pattern(3 << 20 + 123)
        let fd = try fileWith(payload, in: directory)
        defer { close(fd) }
        let (client, server) = try tcpPair()
        defer { client.close(); server.close() }
        let sent = Locked(0)
        let received = try readToEnd(client, whileSending: { sent.update { $0 = (try? server.sendFile(fd)) ?? -1 } }, from: server)
        XCTAssertEqual(sent.value, payload.count)
        XCTAssertTrue(received == payload, "the file arrives intact (\(received.count) bytes)")
    }

    func testSendFileWithOffsetAndCount() throws {
        let directory = try TemporaryDirectory()
        let payload = pattern(1000)
        let fd = try fileWith(payload, in: directory)
        defer { close(fd) }
        let (left, right) = try Socket.pair()
        defer { left.close(); right.close() }

        XCTAssertEqual(try left.sendFile(fd, offset: 10, count: 100), 100)
        XCTAssertEqual(try left.sendFile(fd, offset: 990, count: 50), 10, "a file shorter than asked sends what there is")
        XCTAssertEqual(try left.sendFile(fd, offset: 995), 5, "no count means to the end of the file")
        try left.shutdown(.write)
        XCTAssertEqual(try readAll(right), Array(payload[10..<110] + payload[990...] + payload[995...]))

        XCTAssertThrowsError(try left.sendFile(-1)) { error in
            XCTAssertEqual((error as? SocketError)?.errno, EBADF)
        }
    }
}
