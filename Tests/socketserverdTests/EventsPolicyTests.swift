// A service's policy holds under concurrency = events as under the blocking models: the allow
// list refuses before the loop sees the connection, timeout closes silent clients (logged), and
// max_requests retires the worker and the master replaces it.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class EventsPolicyTests: DaemonTestCase {
    func testAllowListRefusesBeforeTheLoop() throws {
        let daemon = try startDaemon(service: Service("open", handler: "echo", ["workers": 1, "concurrency": "events", "allow": "127.0.0.0/8"]),
                                     Service("closed", handler: "echo", ["workers": 1, "concurrency": "events", "allow": "10.0.0.0/8"]))
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("open")), "hello\n")
        XCTAssertNotEqual((try? tcpRoundTrip(port: daemon.port("closed"))) ?? "", "hello\n", "a client outside allow was served")
        XCTAssertTrue(daemon.waitForLog("service closed: refused 127.0.0.1:"), daemon.log)
    }

    func testTimeoutClosesASilentClientAndKeepsTheTalkingOne() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1, "concurrency": "events", "timeout": 2]))
        let silent = try connectTCP(port: daemon.port)
        defer { silent.close() }
        let talking = try connectTCP(port: daemon.port)
        defer { talking.close() }
        // The talking client speaks every 200 ms (a tenth of the timeout) until the silent one is closed.
        var silentClosed = false
        let deadline = Date().addingTimeInterval(10)
        while !silentClosed && Date() < deadline {
            XCTAssertEqual(try ask(talking, "ping\n"), "ping\n")
            var entry = pollfd(fd: silent.fileno(), events: Int16(POLLIN), revents: 0)
            if poll(&entry, 1, 200) == 1 { silentClosed = try readAll(silent).isEmpty }
        }
        XCTAssertTrue(silentClosed, "the silent client was not closed:\n\(daemon.log)")
        XCTAssertTrue(daemon.waitForLog("closed idle client 127.0.0.1:"), daemon.log)
        XCTAssertEqual(try ask(talking, "still here\n"), "still here\n")
    }

    func testMaxRequestsRetiresTheWorkerAndItIsReplaced() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1, "concurrency": "events", "max_requests": 20]))
        let first = try XCTUnwrap(daemon.workerPIDs().first)
        // Up to 10% jitter: 22 connections are enough to retire the first worker.
        for index in 0..<40 {
            XCTAssertEqual(try tcpRoundTrip(port: daemon.port, "request \(index)\n"), "request \(index)\n", daemon.log)
        }
        // The master replaces it either on the retiring flag or, if the worker was faster, on its exit.
        XCTAssertTrue(daemon.waitForLog("worker \(first) served"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("started for service echo", count: 2), daemon.log)
        XCTAssertFalse(daemon.log.contains("failures in a row"), "a recycled worker must not count as a crash")
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port, "after\n"), "after\n", daemon.log)
    }
}
