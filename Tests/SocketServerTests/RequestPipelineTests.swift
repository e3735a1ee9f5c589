// The request pipeline: handleRequest() and handleTimeout, verifyRequest refusing a request,
// handleError for thrown errors (the server survives), setup/handle/finish order, serviceActions.
import Glibc
import SocketServer
import SocketServerTestSupport
import XCTest

struct Boom: Error, CustomStringConvertible {
    var description: String { "boom" }
}

/// A server that logs what the pipeline does, for TCP and UDP.
protocol Recording: BaseServer {
    var events: Locked<[String]> { get }
    var refuse: Locked<Bool> { get }
}

extension Recording {
    func log(_ event: String) { events.update { $0.append(event) } }
}

final class RecordingServer: TCPServer, Recording, @unchecked Sendable {
    let events = Locked<[String]>([])
    let refuse = Locked(false)
    let loops = Locked(0)

    override func verifyRequest(_ request: Request) -> Bool { log("verify"); return !refuse.value }
    override func handleTimeout() { log("timeout"); super.handleTimeout() }
    override func handleError(_ error: any Error, request: Request) { log("error \(error) from \(request.clientAddress)") }
    override func shutdownRequest(_ request: Request) { log("shutdownRequest"); super.shutdownRequest(request) }
    override func serviceActions() { loops.update { $0 += 1 }; super.serviceActions() }
}

final class RecordingUDPServer: UDPServer, Recording, @unchecked Sendable {
    let events = Locked<[String]>([])
    let refuse = Locked(false)

    override func verifyRequest(_ request: Request) -> Bool { log("verify"); return !refuse.value }
    override func handleError(_ error: any Error, request: Request) { log("error \(error) from \(request.clientAddress)") }
}

/// Logs setup/handle/finish; echoes, except "boom" (throws in handle) and "setup-fails".
final class LifecycleHandler: BaseRequestHandler {
    private var recorder: any Recording { server as! any Recording }
    private var message: [UInt8] = []

    override func setup() throws {
        recorder.log("setup")
        if request.type == .datagram {
            message = packet
        } else {
            try request.setTimeout(ioTimeout)
            message = try readAll(request)
        }
        if message == Array("setup-fails".utf8) { throw Boom() }
    }

    override func handle() throws {
        recorder.log("handle")
        if message == Array("boom".utf8) { throw Boom() }
        if request.type == .datagram { try request.sendTo(message, clientAddress) } else { try request.sendAll(message) }
    }

    override func finish() throws { recorder.log("finish") }
}

final class RequestPipelineTests: XCTestCase {
    func testHandleRequestCallsHandleTimeoutWhenNothingArrives() throws {
        let server = try RecordingServer(loopback4, LifecycleHandler.self)
        defer { server.serverClose() }
        server.timeout = .milliseconds(100)
        let elapsed = try timed { try server.handleRequest() }
        XCTAssertGreaterThanOrEqual(elapsed, .milliseconds(100))
        XCTAssertLessThan(elapsed, .seconds(2))
        XCTAssertEqual(server.events.value, ["timeout"])
    }

    func testHandleRequestUsesTheSocketTimeoutWhenShorter() throws {
        let server = try RecordingServer(loopback4, LifecycleHandler.self)
        defer { server.serverClose() }
        server.timeout = .seconds(30)
        try server.socket.setTimeout(.milliseconds(50))
        let elapsed = try timed { try server.handleRequest() }
        XCTAssertLessThan(elapsed, .seconds(2))
        XCTAssertEqual(server.events.value, ["timeout"])
    }

    /// A RecordingServer for `handler` after `handleRequest` served one client that sent `text` (and
    /// closed its side, if `halfClose`). The caller closes both.
    func handleOneRequest(_ handler: BaseRequestHandler.Type, sending text: String, halfClose: Bool = true) throws
        -> (server: RecordingServer, client: Socket) {
        let server = try RecordingServer(loopback4, handler)
        server.timeout = ioTimeout
        let client = try connectClient(server.serverAddress)
        try client.sendAll(text)
        if halfClose { try client.shutdown(.write) }
        try server.handleRequest()
        return (server, client)
    }

    func testHandleRequestServesOneWaitingRequestInOrder() throws {
        let (server, client) = try handleOneRequest(LifecycleHandler.self, sending: "one request")
        defer { server.serverClose(); client.close() }
        XCTAssertEqual(server.events.value, ["verify", "setup", "handle", "finish", "shutdownRequest"])
        XCTAssertEqual(try readAll(client), Array("one request".utf8))
    }

    func testVerifyRequestFalseClosesTheConnectionWithoutTheHandler() throws {
        let server = try RecordingServer(loopback4, LifecycleHandler.self)
        server.refuse.update { $0 = true }
        try withServing(server) { server in
            let client = try connectClient(server.serverAddress)
            defer { client.close() }
            XCTAssertEqual(try readAll(client), [], "refused: the server just closes")
        }
        XCTAssertEqual(server.events.value, ["verify", "shutdownRequest"], "no setup/handle/finish")
    }

    func testVerifyRequestFalseDropsADatagram() throws {
        let server = try RecordingUDPServer(loopback4, LifecycleHandler.self)
        try withServing(server) { server in
            let client = try udpClient()
            defer { client.close() }
            server.refuse.update { $0 = true }
            try client.sendTo(Array("dropped".utf8), server.serverAddress)
            XCTAssertTrue(eventually { server.events.value == ["verify"] })
            server.refuse.update { $0 = false }
            try client.sendTo(Array("answered".utf8), server.serverAddress)
            XCTAssertEqual(try client.recvFrom(64).0, Array("answered".utf8), "only the verified datagram is answered")
        }
        XCTAssertEqual(server.events.value, ["verify", "verify", "setup", "handle", "finish"])
    }

    private func checkHandleError(_ concurrency: (any RequestConcurrency)?, file: StaticString = #filePath, line: UInt = #line) throws {
        let server = try RecordingServer(loopback4, LifecycleHandler.self, concurrency: concurrency)
        try withServing(server) { server in
            let client = try connectClient(server.serverAddress)
            defer { client.close() }
            let clientAddress = try client.getSockName()
            try client.sendAll("boom")
            try client.shutdown(.write)
            XCTAssertEqual(try readAll(client), [], "the failed request is closed", file: file, line: line)
            XCTAssertEqual(server.events.value, ["verify", "setup", "handle", "finish", "error boom from \(clientAddress)", "shutdownRequest"],
                           "finish runs although handle threw; then handleError", file: file, line: line)
            XCTAssertEqual(try streamExchange(server.serverAddress, "next"), "next", "the server survived", file: file, line: line)
        }
    }

    func testHandleErrorSynchronous() throws { try checkHandleError(nil) }
    func testHandleErrorThreading() throws { try checkHandleError(ThreadingMixIn()) }
    func testHandleErrorThreadPool() throws { try checkHandleError(ThreadPoolMixIn(threads: 2, queueLimit: 4)) }

    func testHandleErrorForDatagrams() throws {
        let server = try RecordingUDPServer(loopback4, LifecycleHandler.self, concurrency: ThreadingMixIn())
        try withServing(server) { server in
            let client = try udpClient()
            defer { client.close() }
            try client.sendTo(Array("boom".utf8), server.serverAddress)
            try client.sendTo(Array("fine".utf8), server.serverAddress)
            XCTAssertEqual(try client.recvFrom(64).0, Array("fine".utf8))
            let expected = "error boom from 127.0.0.1:\(try client.getSockName().port!)"  // the client bound 0.0.0.0
            XCTAssertTrue(eventually { server.events.value.contains(expected) }, "\(server.events.value)")
        }
    }

    func testSetupErrorSkipsHandleAndFinish() throws {
        let server = try RecordingServer(loopback4, LifecycleHandler.self)
        try withServing(server) { server in
            XCTAssertEqual(try streamExchange(server.serverAddress, "setup-fails"), "")
        }
        let events = server.events.value
        XCTAssertEqual(events.count, 4, "\(events)")
        XCTAssertEqual(Array(events.prefix(2)), ["verify", "setup"])
        XCTAssertTrue(events[2].hasPrefix("error boom"), "\(events)")
        XCTAssertEqual(events.last, "shutdownRequest")
    }

    func testDefaultHandleErrorKeepsServing() throws {
        let server = try TCPServer(loopback4, ThrowingHandler.self)
        try withServing(server) { server in
            for _ in 0..<2 {
                XCTAssertEqual(try streamExchange(server.serverAddress, "x"), "", "each failed request is closed")
            }
        }
    }

    func testServiceActionsRunEveryLoopIteration() throws {
        let server = try RecordingServer(loopback4, LifecycleHandler.self)
        try withServing(server, pollInterval: .milliseconds(10)) { server in
            XCTAssertTrue(eventually { server.loops.value >= 3 }, "service actions ran \(server.loops.value) times")
        }
    }

    func testHandlerSeesItsRequestClientAndServer() throws {
        let server = try TCPServer(loopback4, IntrospectingHandler.self)
        try withServing(server) { server in
            let client = try connectClient(server.serverAddress)
            defer { client.close() }
            try client.shutdown(.write)
            let reply = String(decoding: try readAll(client), as: UTF8.self)
            XCTAssertEqual(reply, "\(try client.getSockName()) \(try client.getSockName()) \(server.serverAddress) true")
        }
    }
}

/// Always fails; the server's default handleError reports it.
final class ThrowingHandler: BaseRequestHandler {
    override func handle() throws {
        _ = try request.recv(64)
        throw Boom()
    }
}

/// Replies "clientAddress peerName serverAddress sameServer".
final class IntrospectingHandler: BaseRequestHandler {
    override func handle() throws {
        let same = server.serverAddress == (try request.getSockName())
        try request.sendAll("\(clientAddress) \(try request.getPeerName()) \(server.serverAddress) \(same)")
    }
}

/// Echoes lines with `for line in rfile` and a short timeout, as a Python handler would.
final class LineLoopHandler: StreamRequestHandler {
    override var timeout: Duration? { .milliseconds(200) }
    override func handle() throws {
        for line in rfile { try wfile.write(line) }
    }
}

extension RequestPipelineTests {
    /// Python's `for line in self.rfile` raises on a timeout and handle_error sees it; a Swift
    /// sequence cannot throw, so the error that ended the loop is rethrown when handle() returns.
    func testTimeoutThatEndsALineLoopReachesHandleError() throws {
        let (server, client) = try handleOneRequest(LineLoopHandler.self, sending: "one\n", halfClose: false)
        defer { server.serverClose(); client.close() }
        XCTAssertEqual(server.events.value.count, 3, "\(server.events.value)")
        XCTAssertEqual(server.events.value.first, "verify")
        XCTAssertTrue(server.events.value[1].hasPrefix("error ") && server.events.value[1].contains("timed out"),
                      "handleError got the timeout: \(server.events.value)")
        XCTAssertEqual(try readAll(client), Array("one\n".utf8), "the line before the timeout was answered")
    }

    /// End of input ends the loop without an error.
    func testEndOfInputEndsALineLoopCleanly() throws {
        let (server, client) = try handleOneRequest(LineLoopHandler.self, sending: "a\nb\n")
        defer { server.serverClose(); client.close() }
        XCTAssertEqual(server.events.value, ["verify", "shutdownRequest"])
        XCTAssertEqual(try readAll(client), Array("a\nb\n".utf8))
    }
}
