// A service's policy holds under concurrency = events as under the blocking models: the allow
// list refuses before the loop sees the connection, timeout closes silent clients (logged), and
// max_requests retires the worker and the master replaces it.
import Foundation
import SocketServer
import XCTest

final class EventsPolicyTests: DaemonTestCase {
    func testAllowListRefusesBeforeTheLoop() throws {
        let open = freePort(), closed = freePort()
        let daemon = try startDaemon("""
            [service open]
            listen = tcp://127.0.0.1:\(open)
            handler = echo
            workers = 1
            concurrency = events
            allow = 127.0.0.0/8

            [service closed]
            listen = tcp://127.0.0.1:\(closed)
            handler = echo
            workers = 1
            concurrency = events
            allow = 10.0.0.0/8
            """)
        XCTAssertEqual(try tcpRoundTrip(port: open), "hello\n")
        XCTAssertNotEqual((try? tcpRoundTrip(port: closed)) ?? "", "hello\n", "a client outside allow was served")
        XCTAssertTrue(daemon.waitForLog("service closed: refused 127.0.0.1:"), daemon.log)
    }

    func testTimeoutClosesASilentClientAndKeepsTheTalkingOne() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            concurrency = events
            timeout = 2
            """)
        let silent = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(10))
        defer { silent.close() }
        let talking = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(10))
        defer { talking.close() }
        // The talking client speaks every 200 ms (a tenth of the timeout) until the silent one is closed.
        var silentClosed = false
        let deadline = Date().addingTimeInterval(10)
        while !silentClosed && Date() < deadline {
            try talking.sendAll("ping\n")
            XCTAssertEqual(String(decoding: try talking.recv(5), as: UTF8.self), "ping\n")
            var entry = pollfd(fd: silent.fileno(), events: Int16(POLLIN), revents: 0)
            if poll(&entry, 1, 200) == 1 { silentClosed = try readAll(silent).isEmpty }
        }
        XCTAssertTrue(silentClosed, "the silent client was not closed:\n\(daemon.log)")
        XCTAssertTrue(daemon.waitForLog("closed idle client 127.0.0.1:"), daemon.log)
        try talking.sendAll("still here\n")
        XCTAssertEqual(String(decoding: try talking.recv(11), as: UTF8.self), "still here\n")
    }

    func testMaxRequestsRetiresTheWorkerAndItIsReplaced() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            concurrency = events
            max_requests = 20
            """)
        let first = try XCTUnwrap(daemon.workerPIDs().first)
        // Up to 10% jitter: 22 connections are enough to retire the first worker.
        for index in 0..<40 {
            XCTAssertEqual(try tcpRoundTrip(port: port, "request \(index)\n"), "request \(index)\n", daemon.log)
        }
        // The master replaces it either on the retiring flag or, if the worker was faster, on its exit.
        XCTAssertTrue(daemon.waitForLog("worker \(first) served"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("started for service echo", count: 2), daemon.log)
        XCTAssertFalse(daemon.log.contains("failures in a row"), "a recycled worker must not count as a crash")
        XCTAssertEqual(try tcpRoundTrip(port: port, "after\n", timeout: .seconds(10)), "after\n", daemon.log)
    }
}
