// ThreadPoolMixIn: at most `threads` handlers at once, a bounded queue whose overflow is refused
// (closed unserved, reported to handleError), and serverClose finishing queued work then joining.
import Dispatch
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

/// A TCP server that counts its handlers and records errors, with a gate handlers wait at.
final class GatedServer: TCPServer, @unchecked Sendable {
    let gate = DispatchSemaphore(value: 0)
    let active = Locked(0)
    let mostActive = Locked(0)
    let started = Locked(0)
    let errors = Locked<[String]>([])

    override func handleError(_ error: any Error, request: Request) {
        errors.update { $0.append("\(error)") }
    }
}

/// Waits at the server's gate, then echoes what the client sent.
final class GatedHandler: BaseRequestHandler {
    override func handle() throws {
        let server = server as! GatedServer
        server.started.update { $0 += 1 }
        let now = server.active.update { $0 += 1; return $0 }
        server.mostActive.update { $0 = max($0, now) }
        defer { server.active.update { $0 -= 1 } }
        server.gate.wait()
        try request.setTimeout(ioTimeout)
        try request.sendAll(try readAll(request))
    }
}

final class ThreadPoolTests: XCTestCase {
    private func pool(_ server: GatedServer) -> ThreadPoolMixIn { server.concurrency as! ThreadPoolMixIn }

    /// A connected client that has sent `text` and half-closed (or, with nil, sent nothing: a refused
    /// connection with unread data would be reset rather than closed).
    private func client(_ server: GatedServer, _ text: String?) throws -> Socket {
        let client = try connectClient(server.serverAddress)
        guard let text else { return client }
        try client.sendAll(text)
        try client.shutdown(.write)
        return client
    }

    func testAtMostThreadLimitHandlersRunAtOnce() throws {
        let server = try GatedServer(loopback4, GatedHandler.self, concurrency: ThreadPoolMixIn(threads: 2, queueLimit: 8))
        XCTAssertEqual(pool(server).threadLimit, 2)
        XCTAssertEqual(pool(server).queueLimit, 8)
        let threadsBefore = threadCount()
        try withServing(server) { server in
            let clients = try (0..<5).map { try client(server, "client \($0)") }
            defer { clients.forEach { $0.close() } }
            XCTAssertTrue(eventually { server.started.value == 2 && pool(server).queued == 3 },
                          "two running, three queued (started \(server.started.value), queued \(pool(server).queued))")
            XCTAssertLessThanOrEqual(threadCount(), threadsBefore + 3, "the serving thread and two workers")
            for _ in clients { server.gate.signal() }
            for (index, client) in clients.enumerated() {
                XCTAssertEqual(String(decoding: try readAll(client), as: UTF8.self), "client \(index)")
            }
        }
        XCTAssertEqual(server.mostActive.value, 2)
        XCTAssertEqual(server.errors.value, [])
        XCTAssertTrue(eventually { threadCount() <= threadsBefore }, "workers joined by serverClose")
    }

    func testFullQueueRefusesTheRequestAndTheServerGoesOn() throws {
        let server = try GatedServer(loopback4, GatedHandler.self, concurrency: ThreadPoolMixIn(threads: 1, queueLimit: 1))
        try withServing(server) { server in
            let first = try client(server, "first")
            defer { first.close() }
            XCTAssertTrue(eventually { server.started.value == 1 }, "the worker took the first request")
            let second = try client(server, "second")
            defer { second.close() }
            XCTAssertTrue(eventually { pool(server).queued == 1 }, "the second waits in the queue")

            let third = try client(server, nil)
            defer { third.close() }
            XCTAssertEqual(try readAll(third), [], "refused: closed without an answer")
            XCTAssertEqual(server.errors.value.count, 1)
            XCTAssertTrue(server.errors.value.first?.contains("queue is full") ?? false, "\(server.errors.value)")
            XCTAssertEqual(server.started.value, 1, "the refused request never reached a handler")

            server.gate.signal()
            server.gate.signal()
            XCTAssertEqual(String(decoding: try readAll(first), as: UTF8.self), "first")
            XCTAssertEqual(String(decoding: try readAll(second), as: UTF8.self), "second")

            server.gate.signal()
            let fourth = try client(server, "fourth")
            defer { fourth.close() }
            XCTAssertEqual(String(decoding: try readAll(fourth), as: UTF8.self), "fourth", "served after the refusal")
        }
    }

    func testQueueLimitZeroStillServesOnIdleOrNewThreads() throws {
        let server = try GatedServer(loopback4, GatedHandler.self, concurrency: ThreadPoolMixIn(threads: 2, queueLimit: 0))
        try withServing(server) { server in
            server.gate.signal()
            let first = try client(server, "one")
            defer { first.close() }
            XCTAssertEqual(String(decoding: try readAll(first), as: UTF8.self), "one", "a free thread means no waiting")
            XCTAssertEqual(server.errors.value, [])

            let busy = try client(server, "busy")
            defer { busy.close() }
            XCTAssertTrue(eventually { server.active.value == 1 })
            let other = try client(server, "other")
            defer { other.close() }
            XCTAssertTrue(eventually { server.active.value == 2 }, "the second thread takes it: \(server.errors.value)")
            server.gate.signal()
            server.gate.signal()
            XCTAssertEqual(String(decoding: try readAll(busy), as: UTF8.self), "busy")
            XCTAssertEqual(String(decoding: try readAll(other), as: UTF8.self), "other")
        }
    }

    func testServerCloseFinishesQueuedRequestsThenJoins() throws {
        let threadsBefore = threadCount()
        let server = try GatedServer(loopback4, GatedHandler.self, concurrency: ThreadPoolMixIn(threads: 1, queueLimit: 4))
        let background = try BackgroundServer(server)
        let clients = try (0..<3).map { try client(server, "queued \($0)") }
        defer { clients.forEach { $0.close() } }
        XCTAssertTrue(eventually { server.started.value == 1 && pool(server).queued == 2 })
        // Open the gate a little after serverClose has begun, so that it has queued work to wait for.
        let opener = try PosixThread.start {
            usleep(200_000)
            for _ in 0..<3 { server.gate.signal() }
        }
        background.stop()  // shutdown, join the loop, serverClose: waits for the queue to drain
        opener.join()
        XCTAssertEqual(server.started.value, 3, "queued requests were served, not dropped")
        XCTAssertEqual(pool(server).queued, 0)
        for (index, client) in clients.enumerated() {
            XCTAssertEqual(String(decoding: try readAll(client), as: UTF8.self), "queued \(index)")
        }
        XCTAssertTrue(eventually { threadCount() <= threadsBefore })
    }

    /// A pool whose only thread is held at the gate by a client that sent "busy".
    private func busyPool() throws -> (GatedServer, BackgroundServer, Socket) {
        let server = try GatedServer(loopback4, GatedHandler.self, concurrency: ThreadPoolMixIn(threads: 1, queueLimit: 2))
        let background = try BackgroundServer(server)
        let busy = try client(server, "busy")
        XCTAssertTrue(eventually { server.started.value == 1 }, "the only thread is busy")
        return (server, background, busy)
    }

    /// Runs waitForIdleThread on a thread of its own; nil if it has not returned within `limit`.
    private func waitForIdleThread(_ pool: ThreadPoolMixIn, _ timeout: Duration, within limit: Int = 5) throws -> Bool? {
        let answer = Locked<Bool?>(nil)
        let returned = DispatchSemaphore(value: 0)
        try PosixThread.start(detached: true) {
            answer.update { $0 = pool.waitForIdleThread(timeout: timeout) }
            returned.signal()
        }
        return returned.wait(timeout: .now() + .seconds(limit)) == .success ? answer.value : nil
    }

    func testWaitForIdleThreadWithANegativeTimeoutDoesNotWait() throws {
        let (server, background, busy) = try busyPool()
        defer { busy.close() }
        // Duration.components truncates (-0.999999999 s is 0 s and -999999999 ns): added to the
        // clock's tv_nsec, that always made tv_nsec negative, which pthread_cond_timedwait rejects.
        for timeout: Duration in [.nanoseconds(-999_999_999), .milliseconds(-100), .zero] {
            guard let idle = try waitForIdleThread(pool(server), timeout) else {
                // It spins holding the pool's lock (EINVAL from pthread_cond_timedwait): closing the
                // pool would hang as well, so the server is left as it is.
                background.stop(close: false)
                return XCTFail("waitForIdleThread(\(timeout)) did not return")
            }
            XCTAssertFalse(idle, "no idle thread")
        }
        server.gate.signal()
        XCTAssertEqual(String(decoding: try readAll(busy), as: UTF8.self), "busy")
        background.stop()
    }

    func testWaitForIdleThreadWithAHugeTimeoutWaitsForAThread() throws {
        let (server, background, busy) = try busyPool()
        defer { busy.close() }
        // Nothing tells when the waiter is waiting; if the gate opens first it returns true at once,
        // which passes too (without checking the deadline arithmetic, which overflowed and trapped).
        let opener = try PosixThread.start {
            usleep(100_000)
            server.gate.signal()
        }
        XCTAssertEqual(try waitForIdleThread(pool(server), .seconds(Int64.max)), true, "woken when the thread went idle")
        opener.join()
        XCTAssertEqual(String(decoding: try readAll(busy), as: UTF8.self), "busy")
        background.stop()
    }

    func testPoolServesDatagrams() throws {
        let server = try UDPServer(loopback4, EchoHandler.self, concurrency: ThreadPoolMixIn(threads: 2, queueLimit: 4))
        try withServing(server) { server in
            for round in 0..<5 {
                XCTAssertEqual(try datagramExchange(server.serverAddress, "d\(round)"), "d\(round)")
            }
        }
    }
}
