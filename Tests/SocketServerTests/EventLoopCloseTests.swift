// EventLoopMixIn: how connections end. A handler that is done while its client still sends
// loses no reply (lingering close); serverClose answers requests on their way, ends clients that
// keep sending once closeGrace has passed, flushes pending output, joins and leaks nothing.
import Dispatch
import Glibc
import SocketServer
import SocketServerHandlers
import SocketServerTestSupport
import XCTest

/// Echoes; on a chunk starting with "quit" answers "bye" and ends the connection.
final class QuitHandler: EventStreamHandler {
    init(clientAddress: SocketAddress, server: BaseServer) {}
    func received(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8]) throws -> Bool {
        if bytes.starts(with: Array("quit".utf8)) {
            output.append(contentsOf: "bye\n".utf8)
            return false
        }
        output.append(contentsOf: bytes)
        return true
    }
}

final class EventLoopCloseTests: XCTestCase {
    /// An echo event-loop server serving in the background with `closeGrace`, and a client
    /// connected to it (the caller closes it).
    private func echoServerWithAClient(closeGrace: Duration) throws -> (EventServer, BackgroundServer, Socket) {
        let server = try EventServer(EventLoopMixIn(handler: EchoEventHandler.self, closeGrace: closeGrace))
        let background = try BackgroundServer(server)
        return (server, background, try connectClient(server.serverAddress))
    }

    /// Without a lingering close, the kernel answers the unread bytes with a reset: the client's
    /// send fails and the reply can be lost.
    func testHandlerThatEndsWhileTheClientStillSendsLosesNoReply() throws {
        let server = try EventServer(EventLoopMixIn(handler: QuitHandler.self))
        try withServing(server) { server in
            let client = try connectClient(server.serverAddress)
            defer { client.close() }
            try client.sendAll(Array("quit\n".utf8) + [UInt8](repeating: 0x2e, count: 1 << 20))
            XCTAssertEqual(try receiveExactly(client, 4), Array("bye\n".utf8))
            XCTAssertEqual(try client.recv(16), [])
            // The client neither sends nor closes: the server gives up waiting (2 s) and closes.
            XCTAssertTrue(eventually(within: .seconds(10)) { server.loop.connectionCount == 0 })
            XCTAssertEqual(server.errors.value, [])
        }
    }

    func testServerCloseEndsAClientThatKeepsSendingOnceTheGraceHasPassed() throws {
        let (server, background, client) = try echoServerWithAClient(closeGrace: .milliseconds(300))
        defer { client.close() }
        var replies = 0
        var closer: PosixThread? = nil
        var received: [UInt8] = []
        while true {
            try client.sendAll("ping\n")
            let chunk = try client.recv(5)
            if chunk.isEmpty { break }
            received += chunk
            while received.count % 5 != 0 {  // a reply is never cut
                let rest = try client.recv(5 - received.count % 5)
                XCTAssertFalse(rest.isEmpty, "end of file in the middle of a reply")
                if rest.isEmpty { break }
                received += rest
            }
            replies += 1
            if replies == 3 { closer = try PosixThread.start { background.stop() } }
        }
        XCTAssertEqual(received, Array(repeatElement(Array("ping\n".utf8), count: replies).joined()))
        XCTAssertGreaterThan(replies, 3)
        client.close()
        closer?.join()
        XCTAssertEqual(server.loop.connectionCount, 0)
        XCTAssertEqual(server.errors.value, [])
    }

    func testServerCloseAnswersARequestAlreadyOnItsWay() throws {
        let (server, background, client) = try echoServerWithAClient(closeGrace: .seconds(2))
        defer { client.close() }
        XCTAssertTrue(eventually { server.loop.connectionCount == 1 })  // accepted before the close
        let closer = try PosixThread.start { background.stop() }
        XCTAssertTrue(eventually { server.loop.isClosing })  // the request is sent after the close began
        try client.sendAll("late\n")
        XCTAssertEqual(try receiveExactly(client, 5), Array("late\n".utf8))
        XCTAssertEqual(try client.recv(16), [])  // then ended, after closeGrace
        client.close()  // the server waits for this (or 2 s) before it closes its end
        closer.join()
        XCTAssertEqual(server.loop.connectionCount, 0)
        XCTAssertEqual(server.errors.value, [])
    }

    func testServerCloseFlushesPendingOutputJoinsTheThreadAndLeaksNothing() throws {
        let threadsBefore = threadCount()
        try assertNoDescriptorLeak("by an event-loop server") {
            let server = try EventServer(EventLoopMixIn(handler: BlastHandler.self))
            let background = try BackgroundServer(server)
            let idle = try connectClient(server.serverAddress)
            defer { idle.close() }
            try idle.sendAll("hi")
            XCTAssertEqual(try receiveExactly(idle, 2), Array("hi".utf8))
            // A client whose reply is still pending when the server closes: it gets all of it.
            let pending = try Socket(family: .inet, type: .stream)
            defer { pending.close() }
            try pending.setOption(.receiveBufferSize, 65536)
            try pending.setTimeout(ioTimeout)
            try pending.connect(server.serverAddress)
            try pending.sendAll("blast\n")
            XCTAssertEqual(BlastHandler.asked.wait(timeout: .now() + 30), .success)
            let closer = try PosixThread.start { background.stop() }
            // The idle connection is closed after closeGrace, while the other still has output to send.
            XCTAssertEqual(try idle.recv(16), [])
            idle.close()
            var received = 0
            while true {
                let chunk = try pending.recv(65536)
                if chunk.isEmpty { break }
                XCTAssertTrue(chunk.allSatisfy { $0 == 7 })
                received += chunk.count
            }
            XCTAssertEqual(received, BlastHandler.size)
            pending.close()
            closer.join()
            XCTAssertEqual(server.loop.connectionCount, 0)
            // The loop's thread is gone (`<=`: a thread an earlier test left may still have been ending).
            XCTAssertTrue(eventually { threadCount() <= threadsBefore }, "\(threadCount()) threads, \(threadsBefore) before")
            XCTAssertEqual(server.errors.value, [])
        }
    }
}
