// EventLoopMixIn under serveForever accepts on its own thread: each connection goes through the
// server's pipeline there, a shutdown from a handler does not wait for itself, a burst beyond one
// turn's batch is taken whole, a failed accept pauses accepting without stopping the open
// connections, and once serveForever has returned nothing more is accepted.
import Glibc
import SocketServer
import SocketServerHandlers
import SocketServerTestSupport
import XCTest

/// Counts the pipeline's steps and notes the threads `verify` ran on; refuses clients while
/// `refusing` is set.
final class CountingHooks: ServerHooks, @unchecked Sendable {
    let accepted = Locked(0), verified = Locked(0), processed = Locked(0), ended = Locked(0)
    let acceptFailures = Locked<[String]>([])
    let verifyThreads = Locked<Set<String>>([])
    let refusing = Locked(false)

    func accepted(_ request: Request, server: BaseServer) -> Request {
        accepted.update { $0 += 1 }
        return request
    }
    func verify(_ request: Request, server: BaseServer) -> Bool {
        verified.update { $0 += 1 }
        verifyThreads.update { $0.insert(PosixThread.current.name) }
        return !refusing.value
    }
    func processed(_ request: Request, error: (any Error)?, server: BaseServer) { processed.update { $0 += 1 } }
    func ended(_ request: Request, server: BaseServer) { ended.update { $0 += 1 } }
    func acceptFailed(_ error: any Error, server: BaseServer) { acceptFailures.update { $0.append("\(error)") } }
}

/// Echoes; on "stop" answers "stopping" and calls the server's `shutdown()` from the loop's thread.
final class StoppingEchoHandler: EventStreamHandler {
    let server: BaseServer
    init(clientAddress: SocketAddress, server: BaseServer) { self.server = server }
    func received(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8]) throws -> Bool {
        if bytes.starts(with: Array("stop".utf8)) {
            output.append(contentsOf: "stopping\n".utf8)
            server.shutdown()
        } else {
            output.append(contentsOf: bytes)
        }
        return true
    }
}

final class EventLoopAcceptTests: XCTestCase {
    private func echo(_ client: Socket, _ text: String) throws -> String {
        try client.sendAll(text)
        return String(decoding: try receiveExactly(client, text.utf8.count), as: UTF8.self)
    }

    func testEachConnectionGoesThroughThePipelineOnTheLoopsThread() throws {
        let server = try EventServer(EventLoopMixIn(handler: EchoEventHandler.self))
        let hooks = CountingHooks()
        server.hooks = hooks
        let serving = try BackgroundServer(server)
        defer { serving.stop() }
        for index in 0..<20 {
            let client = try connectClient(server.serverAddress)
            XCTAssertEqual(try echo(client, "ping \(index)\n"), "ping \(index)\n")
            client.close()
        }
        XCTAssertTrue(eventually(within: .seconds(10)) { hooks.ended.value == 20 })
        XCTAssertEqual([hooks.accepted.value, hooks.verified.value, hooks.processed.value], [20, 20, 20])
        // One thread ran every verify, and not the thread that called serveForever.
        XCTAssertEqual(hooks.verifyThreads.value.count, 1)
        XCTAssertFalse(hooks.verifyThreads.value.contains(serving.threadName))

        hooks.refusing.update { $0 = true }
        let refused = try connectClient(server.serverAddress)
        defer { refused.close() }
        try refused.sendAll("ping\n")
        XCTAssertEqual(try refused.recv(16), [], "a refused connection is closed unanswered")
        XCTAssertEqual(server.errors.value, [])
    }

    func testABurstLargerThanOneTurnIsAcceptedWhole() throws {
        let server = try EventServer(EventLoopMixIn(handler: EchoEventHandler.self))
        try withServing(server) { server in
            var clients: [Socket] = []
            defer { for client in clients { client.close() } }
            for _ in 0..<300 {
                let client = try Socket(family: .inet)
                try client.setBlocking(false)
                _ = try client.connectEx(server.serverAddress)
                clients.append(client)
            }
            for (index, client) in clients.enumerated() {
                try client.setBlocking(true)
                try client.setTimeout(.seconds(10))
                XCTAssertEqual(try echo(client, "client \(index)\n"), "client \(index)\n")
            }
            XCTAssertEqual(server.loop.connectionCount, 300)
        }
    }

    func testShutdownFromAHandlerStopsServeForeverAndTheConnectionGoesOn() throws {
        let server = try EventServer(EventLoopMixIn(handler: StoppingEchoHandler.self))
        let serving = try BackgroundServer(server)
        defer { serving.stop() }
        let client = try connectClient(server.serverAddress)
        defer { client.close() }
        XCTAssertEqual(try echo(client, "stop\n").count, 5)
        XCTAssertEqual(String(decoding: try receiveExactly(client, 4), as: UTF8.self), "ing\n")
        XCTAssertTrue(serving.loopExits(within: .seconds(10)), "shutdown() from the loop's thread only asks")
        // serveForever has returned: the open connection is still served until serverClose...
        XCTAssertEqual(try echo(client, "still here\n"), "still here\n")
        // ...but a new one is not accepted (it waits in the backlog).
        let late = try connectClient(server.serverAddress)
        defer { late.close() }
        try late.sendAll("hello\n")
        try late.setTimeout(.milliseconds(300))
        XCTAssertThrowsError(try late.recv(16)) { error in
            guard case SocketError.timeout = error else { return XCTFail("expected a timeout, got \(error)") }
        }
    }

    /// With no descriptor left, accept fails (EMFILE): the hooks hear of it, accepting pauses and
    /// resumes, and the connection already open is served meanwhile.
    func testAFailedAcceptPausesAcceptingWithoutStoppingOpenConnections() throws {
        let server = try EventServer(EventLoopMixIn(handler: EchoEventHandler.self))
        let hooks = CountingHooks()
        server.hooks = hooks
        try withServing(server) { server in
            let open = try connectClient(server.serverAddress)
            defer { open.close() }
            XCTAssertEqual(try echo(open, "first\n"), "first\n")
            let waiting = try Socket(family: .inet)
            defer { waiting.close() }
            // The limit becomes the lowest free descriptor: no new one can be made (connect needs none).
            let lowestFree = dup(0)
            close(lowestFree)
            var saved = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved)
            var tight = saved
            tight.rlim_cur = rlim_t(lowestFree)
            do {
                XCTAssertEqual(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &tight), 0)
                defer { setrlimit(Int32(RLIMIT_NOFILE.rawValue), &saved) }
                try waiting.connect(server.serverAddress)
                XCTAssertTrue(eventually(within: .seconds(10)) { !hooks.acceptFailures.value.isEmpty })
                XCTAssertEqual(try echo(open, "still served\n"), "still served\n")
            }
            try waiting.setTimeout(.seconds(10))
            XCTAssertEqual(try echo(waiting, "accepted at last\n"), "accepted at last\n")
            XCTAssertTrue(hooks.acceptFailures.value.allSatisfy { $0.contains("accept") }, "\(hooks.acceptFailures.value)")
        }
    }
}
