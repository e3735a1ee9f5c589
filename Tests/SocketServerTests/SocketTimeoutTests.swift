// Timeouts and blocking mode (Python's settimeout/setblocking): a timeout raises
// SocketError.timeout from recv, recvFrom and accept; non-blocking calls report EAGAIN at once.
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

final class SocketTimeoutTests: XCTestCase {
    private let short: Duration = .milliseconds(100)

    private func isNonBlocking(_ socket: Socket) -> Bool {
        fcntl(socket.fileno(), F_GETFL) & O_NONBLOCK != 0
    }

    /// Runs `call`, which must throw: the socket error it threw (nil for another error or none,
    /// which fails the test) and how long it took.
    private func timedFailure(_ call: () throws -> Void, file: StaticString = #filePath,
                              line: UInt = #line) -> (error: SocketError?, elapsed: Duration) {
        var thrown: (any Error)?
        let elapsed = timed {
            do { try call() } catch { thrown = error }
        }
        XCTAssertNotNil(thrown, "the call returned instead of throwing", file: file, line: line)
        return (thrown as? SocketError, elapsed)
    }

    func testTimeoutPropertyAndDescriptorMode() throws {
        let socket = try Socket(family: .inet, type: .stream)
        defer { socket.close() }
        XCTAssertNil(socket.timeout, "sockets block by default")
        XCTAssertFalse(isNonBlocking(socket))

        try socket.setTimeout(.seconds(2))
        XCTAssertEqual(socket.timeout, .seconds(2))
        XCTAssertTrue(isNonBlocking(socket), "timeouts are done with O_NONBLOCK and poll")

        try socket.setBlocking(false)
        XCTAssertEqual(socket.timeout, .zero)
        try socket.setBlocking(true)
        XCTAssertNil(socket.timeout)
        XCTAssertFalse(isNonBlocking(socket))

        XCTAssertThrowsError(try socket.setTimeout(.milliseconds(-1))) { error in
            guard case .invalidAddress? = error as? SocketError else { return XCTFail("\(error)") }
        }
        XCTAssertNil(socket.timeout, "a rejected timeout changes nothing")
    }

    func testRecvTimesOut() throws {
        let (left, right) = try Socket.pair()
        defer { left.close(); right.close() }
        try right.setTimeout(short)
        let (error, elapsed) = timedFailure { _ = try right.recv(16) }
        XCTAssertEqual(error, .timeout(call: "recv"))
        XCTAssertEqual(error?.errno, ETIMEDOUT)
        XCTAssertEqual(error.map { "\($0)" }, "recv: timed out")
        XCTAssertGreaterThanOrEqual(elapsed, short)
        XCTAssertLessThan(elapsed, .seconds(3))

        try left.sendAll("late")
        XCTAssertEqual(try right.recv(16), Array("late".utf8), "the socket works after a timeout")
    }

    func testAcceptTimesOut() throws {
        let listener = try loopbackListener()
        defer { listener.close() }
        try listener.setTimeout(short)
        let (error, elapsed) = timedFailure { _ = try listener.accept() }
        XCTAssertEqual(error, .timeout(call: "accept"))
        XCTAssertGreaterThanOrEqual(elapsed, short)
        XCTAssertLessThan(elapsed, .seconds(3))

        let client = try connectClient(try listener.getSockName())
        defer { client.close() }
        let (connection, _) = try listener.accept()
        connection.close()
    }

    func testRecvFromTimesOut() throws {
        let socket = try Socket(family: .inet, type: .datagram)
        defer { socket.close() }
        try socket.bind(loopback4)
        try socket.setTimeout(short)
        XCTAssertThrowsError(try socket.recvFrom(16)) { error in
            XCTAssertEqual(error as? SocketError, .timeout(call: "recvfrom"))
        }
    }

    func testTimeoutBoundsEachWaitNotTheWholeTransfer() throws {
        let (left, right) = try Socket.pair()
        defer { left.close(); right.close() }
        try right.setTimeout(.milliseconds(500))
        let writer = try PosixThread.start {
            for piece in ["a", "b", "c"] {
                usleep(100_000)
                try? left.sendAll(piece)
            }
            try? left.shutdown(.write)
        }
        XCTAssertEqual(try readAll(right), Array("abc".utf8))
        writer.join()
    }

    func testSendAllTimeoutBoundsTheWholeCall() throws {
        // A peer that empties its buffer every 150 ms: each wait for room is shorter than the
        // 200 ms timeout, but 8 MiB would take seconds, so sendAll must time out after ~200 ms
        // (before the fix every wait began a fresh 200 ms and the sender was held indefinitely).
        let (left, right) = try Socket.pair()
        defer { left.close(); right.close() }
        try left.setBlocking(false)
        try right.setTimeout(.milliseconds(200))
        let done = Locked(false)
        let received = Locked(0)
        let reader = try PosixThread.start {
            let start = ContinuousClock.now
            for tick in 1...14 where !done.value {  // at most ~2.1 s, so a broken sendAll still ends
                let pause = ContinuousClock.now.duration(to: start.advanced(by: .milliseconds(150 * tick)))
                if pause > .zero { usleep(UInt32(pause.roundedMilliseconds * 1000)) }
                while let chunk = try? left.recv(65536), !chunk.isEmpty { received.update { $0 += chunk.count } }
            }
        }
        let (error, elapsed) = timedFailure { try right.sendAll([UInt8](repeating: 0x61, count: 8 << 20)) }
        XCTAssertEqual(error, .timeout(call: "sendall"))
        done.update { $0 = true }
        reader.join()
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(200))
        XCTAssertLessThan(elapsed, .milliseconds(1500), "sendAll ran \(elapsed) against a 200 ms timeout")
        XCTAssertGreaterThan(received.value, 0, "the peer did read")
    }

    func testConnectTimesOutWhenTheBacklogIsFull() throws {
        // A listener that never accepts: once its queue is full the kernel drops further SYNs, so
        // a connect waits until its timeout.
        let listener = try Socket(family: .inet, type: .stream)
        defer { listener.close() }
        try listener.bind(loopback4)
        try listener.listen(0)
        let address = try listener.getSockName()
        var clients: [Socket] = []
        defer { clients.forEach { $0.close() } }
        var timedOut: SocketError?
        for _ in 0..<8 where timedOut == nil {
            let client = try Socket(family: .inet, type: .stream)
            clients.append(client)
            try client.setTimeout(short)
            do { try client.connect(address) } catch { timedOut = error }
        }
        XCTAssertEqual(timedOut, .timeout(call: "connect \(address)"))
        XCTAssertEqual(timedOut?.errno, ETIMEDOUT)

        let viaEx = try Socket(family: .inet, type: .stream)
        clients.append(viaEx)
        try viaEx.setTimeout(short)
        XCTAssertEqual(try viaEx.connectEx(address), ETIMEDOUT, "connect_ex reports the timeout as ETIMEDOUT")
    }

    func testNonBlockingRecvReportsEAGAIN() throws {
        let (left, right) = try Socket.pair()
        defer { left.close(); right.close() }
        try right.setBlocking(false)
        let (error, elapsed) = timedFailure { _ = try right.recv(16) }
        XCTAssertEqual(error, .system(call: "recv", errno: EAGAIN))
        XCTAssertLessThan(elapsed, .seconds(1), "non-blocking means at once")
    }

    func testNonBlockingAcceptReportsEAGAIN() throws {
        let listener = try loopbackListener()
        defer { listener.close() }
        try listener.setBlocking(false)
        XCTAssertThrowsError(try listener.accept()) { error in
            XCTAssertEqual(error as? SocketError, .system(call: "accept", errno: EAGAIN))
        }
        XCTAssertNil(try listener.acceptIfReady())
    }

    func testNonBlockingConnectIsInProgressOrDone() throws {
        let listener = try loopbackListener()
        defer { listener.close() }
        let client = try Socket(family: .inet, type: .stream)
        defer { client.close() }
        try client.setBlocking(false)
        let code = try client.connectEx(try listener.getSockName())
        XCTAssertTrue(code == 0 || code == EINPROGRESS, "connect_ex gave \(code)")
    }

    func testBlockingSocketWithNonBlockingDescriptorStillBlocks() throws {
        let (left, right) = try Socket.pair()
        defer { left.close(); right.close() }
        try right.setNonBlockingFlag(true)
        XCTAssertNil(right.timeout)
        let writer = try PosixThread.start {
            usleep(50_000)
            try? left.sendAll("waited")
        }
        XCTAssertEqual(try right.recv(16), Array("waited".utf8), "recv polled instead of reporting EAGAIN")
        writer.join()
    }

    func testCreateConnectionKeepsItsTimeout() throws {
        let listener = try loopbackListener()
        defer { listener.close() }
        let port = Int(try listener.getSockName().port!)
        let client = try createConnection(host: "127.0.0.1", port: port, timeout: short)
        defer { client.close() }
        XCTAssertEqual(client.timeout, short)
        XCTAssertThrowsError(try client.recv(1)) { XCTAssertEqual($0 as? SocketError, .timeout(call: "recv")) }
    }

    /// The kernel's per-wait limit: the descriptor stays blocking, a silent peer times a recv out,
    /// and a peer that does not read times a send out; a timeout set later takes precedence.
    func testIdleTimeoutLimitsEachBlockingWait() throws {
        let (mine, theirs) = try Socket.pair()
        defer { mine.close(); theirs.close() }
        try mine.setIdleTimeout(.milliseconds(100))
        XCTAssertEqual(mine.idleTimeout, .milliseconds(100))
        XCTAssertNil(mine.timeout)
        XCTAssertEqual(fcntl(mine.fileno(), F_GETFL) & O_NONBLOCK, 0)
        XCTAssertThrowsError(try mine.recv(1)) { XCTAssertEqual($0 as? SocketError, .timeout(call: "recv")) }
        try theirs.sendAll("late\n")
        XCTAssertEqual(try mine.recv(16), Array("late\n".utf8))
        let big = [UInt8](repeating: 1, count: 8 << 20)
        XCTAssertThrowsError(try mine.sendAll(big)) { XCTAssertEqual($0 as? SocketError, .timeout(call: "sendall")) }
        try mine.setIdleTimeout(nil)
        XCTAssertNil(mine.idleTimeout)
    }
}
