// What the server asks of every concurrency model: `beforeAccept` before each accept, and one
// error, `RequestRefused`, from a model that has no room for a request.
import Dispatch
import Glibc
import SocketServer
import SocketServerHandlers
import SocketServerTestSupport
import XCTest

/// Runs requests in the loop's thread and notes each call the server makes.
final class RecordingConcurrency: RequestConcurrency, @unchecked Sendable {
    let calls = Locked<[String]>([])

    func beforeAccept(_ server: BaseServer) { calls.update { $0.append("beforeAccept") } }

    func processRequest(_ request: Request, server: BaseServer) throws {
        calls.update { $0.append("processRequest") }
        try server.finishRequest(request)
        server.shutdownRequest(request)
    }
}

/// A pool that signals `entered` each time the loop asks it before an accept.
final class SignallingPool: RequestConcurrency, @unchecked Sendable {
    let pool: ThreadPoolMixIn
    let entered = DispatchSemaphore(value: 0)

    init(_ pool: ThreadPoolMixIn) { self.pool = pool }

    func beforeAccept(_ server: BaseServer) {
        entered.signal()
        pool.beforeAccept(server)
    }
    func processRequest(_ request: Request, server: BaseServer) throws { try pool.processRequest(request, server: server) }
    func serverClose(_ server: BaseServer) { pool.serverClose(server) }
}

/// Keeps the refusals the models report to `handleError`, as thrown; handlers wait at `gate`.
final class RefusalServer: TCPServer, @unchecked Sendable {
    let gate = DispatchSemaphore(value: 0)
    let started = Locked(0)
    let refusals = Locked<[RequestRefused]>([])
    let otherErrors = Locked<[String]>([])

    override func handleError(_ error: any Error, request: Request) {
        if let refused = error as? RequestRefused {
            refusals.update { $0.append(refused) }
        } else {
            otherErrors.update { $0.append("\(error)") }
        }
    }
}

/// Waits at the server's gate, then echoes what the client sent.
final class GateThenEchoHandler: BaseRequestHandler {
    override func handle() throws {
        let server = server as! RefusalServer
        server.started.update { $0 += 1 }
        server.gate.wait()
        try request.setTimeout(ioTimeout)
        try request.sendAll(try readAll(request))
    }
}

final class ConcurrencyInterfaceTests: XCTestCase {
    /// A connected client that has sent `text` and half-closed (nil: sent nothing).
    private func client(_ address: SocketAddress, _ text: String?) throws -> Socket {
        let client = try connectClient(address)
        guard let text else { return client }
        try client.sendAll(text)
        try client.shutdown(.write)
        return client
    }

    func testTheLoopAsksTheModelBeforeEveryAccept() throws {
        let recording = RecordingConcurrency()
        let server = try TCPServer(loopback4, EchoHandler.self, concurrency: recording)
        try withServing(server) { server in
            for round in 0..<3 {
                XCTAssertEqual(try streamExchange(server.serverAddress, "r\(round)"), "r\(round)")
            }
        }
        // Every request was asked for first; after one, the loop asks again before it polls (the
        // next may be waiting already), so an ask may find none.
        let calls = recording.calls.value
        XCTAssertEqual(calls.filter { $0 == "processRequest" }.count, 3, "\(calls)")
        for (index, call) in calls.enumerated() where call == "processRequest" {
            XCTAssertEqual(index > 0 ? calls[index - 1] : nil, "beforeAccept", "\(calls)")
        }
    }

    func testAFullPoolRefusesWithRequestRefused() throws {
        let server = try RefusalServer(loopback4, GateThenEchoHandler.self, concurrency: ThreadPoolMixIn(threads: 1, queueLimit: 0))
        try withServing(server) { server in
            let busy = try client(server.serverAddress, "busy")
            defer { busy.close() }
            XCTAssertTrue(eventually { server.started.value == 1 }, "the only thread is busy")
            let refused = try client(server.serverAddress, nil)
            defer { refused.close() }
            XCTAssertEqual(try readAll(refused), [], "closed unserved")
            XCTAssertEqual(server.refusals.value, [RequestRefused(.queueFull(queueLimit: 0))])
            XCTAssertEqual(server.refusals.value.first?.description, "thread pool queue is full (0 waiting); request refused")
            server.gate.signal()
            XCTAssertEqual(String(decoding: try readAll(busy), as: UTF8.self), "busy")
        }
        XCTAssertEqual(server.started.value, 1, "the refused request never reached a handler")
        XCTAssertEqual(server.otherErrors.value, [])
    }

    func testAFullEventLoopRefusesWithRequestRefused() throws {
        let loop = EventLoopMixIn(handler: EchoEventHandler.self, maxConnections: 1)
        let server = try RefusalServer(loopback4, BaseRequestHandler.self, concurrency: loop)
        try withServing(server) { server in
            let open = try client(server.serverAddress, nil)
            defer { open.close() }
            try open.sendAll("x")
            XCTAssertEqual(try open.recv(1), Array("x".utf8), "taken over by the loop")
            let refused = try client(server.serverAddress, nil)
            defer { refused.close() }
            XCTAssertEqual(try refused.recv(16), [], "closed unserved")
            XCTAssertEqual(server.refusals.value, [RequestRefused(.connectionsFull(maxConnections: 1))])
            XCTAssertEqual(server.refusals.value.first?.description, "event loop is full (1 connections); connection refused")
        }
        XCTAssertEqual(server.otherErrors.value, [])
    }

    func testAcceptWaitIsZeroUnlessSet() {
        XCTAssertEqual(ThreadPoolMixIn().acceptWait, .zero)
        XCTAssertEqual(ThreadPoolMixIn(acceptWait: .milliseconds(-5)).acceptWait, .zero)
        XCTAssertEqual(ThreadPoolMixIn(acceptWait: .milliseconds(50)).acceptWait, .milliseconds(50))
    }

    /// With every thread busy, the loop waits in `beforeAccept` instead of accepting: a pool with no
    /// queue at all then serves the next client once its thread is free, where without the wait it
    /// would have refused it.
    func testWithAcceptWaitABusyPoolAcceptsOnceAThreadIsFree() throws {
        let pool = SignallingPool(ThreadPoolMixIn(threads: 1, queueLimit: 0, acceptWait: .seconds(30)))
        let server = try RefusalServer(loopback4, GateThenEchoHandler.self, concurrency: pool)
        try withServing(server) { server in
            let first = try client(server.serverAddress, "first")
            defer { first.close() }
            XCTAssertEqual(pool.entered.wait(timeout: .now() + .seconds(5)), .success, "asked before the first accept")
            XCTAssertTrue(eventually { server.started.value == 1 }, "the only thread is busy")
            let second = try client(server.serverAddress, "second")
            defer { second.close() }
            XCTAssertEqual(pool.entered.wait(timeout: .now() + .seconds(5)), .success, "asked before the second accept")
            server.gate.signal()
            XCTAssertEqual(String(decoding: try readAll(first), as: UTF8.self), "first")
            server.gate.signal()
            XCTAssertEqual(String(decoding: try readAll(second), as: UTF8.self), "second", "served, not refused")
        }
        XCTAssertEqual(server.refusals.value, [])
        XCTAssertEqual(server.started.value, 2)
    }

    func testBeforeAcceptWaitsAtMostAcceptWait() throws {
        let pool = ThreadPoolMixIn(threads: 1, queueLimit: 1, acceptWait: .milliseconds(200))
        let server = try RefusalServer(loopback4, GateThenEchoHandler.self, concurrency: pool)
        try withServing(server) { server in
            let busy = try client(server.serverAddress, "busy")
            defer { busy.close() }
            XCTAssertTrue(eventually { server.started.value == 1 }, "the only thread is busy")
            let waited = timed { pool.beforeAccept(server) }
            XCTAssertGreaterThanOrEqual(waited, .milliseconds(200), "no idle thread: waits the whole acceptWait")
            XCTAssertLessThan(waited, .seconds(5))
            server.gate.signal()
            XCTAssertEqual(String(decoding: try readAll(busy), as: UTF8.self), "busy")
        }
    }
}
