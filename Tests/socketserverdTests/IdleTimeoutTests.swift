// `timeout` under the blocking models (sync, threads, fork): it limits each wait of a connection
// (the kernel's receive and send limits), so a silent client and a client that stops reading its
// replies are both cut, logged as idle, while a talking client is served on.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class IdleTimeoutTests: DaemonTestCase {
    func testASilentClientIsClosedAndATalkingOneIsNotUnderEachBlockingModel() throws {
        for concurrency in ["sync", "threads", "fork"] {
            // sync serves one connection at a time per worker: the talking client gets the other worker.
            let daemon = try startDaemon(service: Service("echo", ["workers": 2, "concurrency": concurrency, "timeout": 1]))
            let silent = try connectTCP(port: daemon.port)
            defer { silent.close() }
            XCTAssertEqual(try tcpRoundTrip(port: daemon.port, "ping\n"), "ping\n", "\(concurrency): \(daemon.log)")
            try silent.setTimeout(.seconds(10))
            XCTAssertEqual(try silent.recv(16), [], "\(concurrency): the silent client was not closed")
            XCTAssertTrue(daemon.waitForLog("closed idle client 127.0.0.1:"), "\(concurrency): \(daemon.log)")
            XCTAssertEqual(try tcpRoundTrip(port: daemon.port, "after\n"), "after\n", "\(concurrency): \(daemon.log)")
            daemon.stop()
        }
    }

    func testAClientThatStopsReadingIsCutByTheSendLimit() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1, "concurrency": "threads", "timeout": 1]))
        let client = try connectTCP(port: daemon.port)
        defer { client.close() }
        try client.setTimeout(.seconds(15))
        // Echo sends everything back; with nobody reading, its send waits until the limit cuts it.
        let chunk = [UInt8](repeating: 0x61, count: 1 << 16)
        var failure: (any Error)?
        let start = Date()
        do {
            for _ in 0..<4096 { try client.sendAll(chunk) }
        } catch {
            failure = error
        }
        let error = try XCTUnwrap(failure, "256 MiB went into a connection nobody read")
        if case SocketError.timeout = error { XCTFail("the client's own limit passed first: the server never cut it") }
        XCTAssertLessThan(Date().timeIntervalSince(start), 14)
        XCTAssertTrue(daemon.waitForLog("closed idle client 127.0.0.1:"), daemon.log)
    }
}
