// ServerHooks: one hooks object serves a stream and a datagram server, sees the pipeline's steps in
// order, refuses clients, fails a request before its handler, and takes handleError's place.
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

/// Hooks that note the steps they see; they refuse clients while `refusing`, and fail requests
/// before the handler while `failing`.
final class NotingHooks: ServerHooks {
    let steps = Locked<[String]>([])
    let refusing = Locked(false)
    let failing = Locked(false)
    let loops = Locked(0)

    private func note(_ step: String) { steps.update { $0.append(step) } }

    func verify(_ request: Request, server: BaseServer) -> Bool {
        note("verify")
        return !refusing.value
    }

    func processed(_ request: Request, error: (any Error)?, server: BaseServer) {
        note(error.map { "processed: \($0)" } ?? "processed")
    }

    func willHandle(_ request: Request, server: BaseServer) throws {
        note("willHandle")
        if failing.value { throw Boom() }
    }

    func didHandle(_ request: Request, server: BaseServer) { note("didHandle") }
    func failed(_ error: any Error, request: Request, server: BaseServer) { note("failed: \(error)") }
    func serviceActions(_ server: BaseServer) { loops.update { $0 += 1 } }
}

final class ServerHooksTests: XCTestCase {
    private let served = ["verify", "willHandle", "didHandle", "processed"]

    func testOneHooksObjectServesAStreamAndADatagramServer() throws {
        let hooks = NotingHooks()
        let stream = try TCPServer(loopback4, EchoHandler.self)
        let datagram = try UDPServer(loopback4, EchoHandler.self)
        stream.hooks = hooks
        datagram.hooks = hooks
        try withServing(stream) { stream in
            XCTAssertEqual(try streamExchange(stream.serverAddress, "over a stream"), "over a stream")
            // The client sees the end of its connection before `processed` runs.
            XCTAssertTrue(eventually { hooks.steps.value.count == 4 }, "\(hooks.steps.value)")
        }
        try withServing(datagram) { datagram in
            XCTAssertEqual(try datagramExchange(datagram.serverAddress, "a datagram"), "a datagram")
            XCTAssertTrue(eventually { hooks.steps.value.count == 8 }, "\(hooks.steps.value)")
        }
        XCTAssertEqual(hooks.steps.value, served + served)
        XCTAssertGreaterThan(hooks.loops.value, 0, "serviceActions reached the hooks")
    }

    func testHooksRefuseFailAndReportRequests() throws {
        let hooks = NotingHooks()
        let server = try TCPServer(loopback4, EchoHandler.self)
        server.hooks = hooks
        try withServing(server) { server in
            hooks.refusing.update { $0 = true }
            try assertClosedUnserved(server, "refused: the server just closes")
            XCTAssertTrue(eventually { hooks.steps.value == ["verify"] }, "\(hooks.steps.value)")
            hooks.refusing.update { $0 = false }
            hooks.failing.update { $0 = true }
            try assertClosedUnserved(server, "failed before the handler ran")
            XCTAssertTrue(eventually { hooks.steps.value.count == 5 }, "\(hooks.steps.value)")
        }
        // No didHandle after a willHandle that threw; the error reaches `failed`, not stderr.
        XCTAssertEqual(hooks.steps.value, ["verify", "verify", "willHandle", "processed: boom", "failed: boom"])
    }

    /// A client that sends nothing sees its connection end without a reply.
    private func assertClosedUnserved(_ server: TCPServer, _ why: String, line: UInt = #line) throws {
        let client = try connectClient(server.serverAddress)
        defer { client.close() }
        XCTAssertEqual(try readAll(client), [], why, line: line)
    }
}
