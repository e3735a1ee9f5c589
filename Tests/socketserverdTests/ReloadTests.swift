// SIGHUP: a new generation without a failed request; a broken config keeps the old one serving.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class ReloadTests: DaemonTestCase {
    func config(_ services: Service..., trailer: String = "") -> DaemonConfigBuilder {
        DaemonConfigBuilder(daemon: ["graceful_timeout": 5], services: services, trailer: trailer)
    }

    /// A threads service; on a passed socket unless `port` (the daemon binds it: a reload adds it).
    func service(_ name: String, port: Int? = nil, handler: String = "echo", workers: Int = 2) -> Service {
        Service(name, handler: handler, listen: port.map { .tcpPort($0) } ?? .tcp, ["workers": workers, "concurrency": "threads"])
    }

    /// HUP, then the READY=1 of the new generation (its STATUS line names it).
    func reload(_ daemon: DaemonProcess, to generation: Int, file: StaticString = #filePath, line: UInt = #line) {
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("generation \(generation)"), daemon.log, file: file, line: line)
    }

    func testReloadAddsAndRemovesServicesWithoutAFailedRequest() throws {
        let added = freePort()
        let daemon = try startDaemon(config(service("kept"), service("removed")))
        let (kept, removed) = (daemon.port("kept"), daemon.port("removed"))
        XCTAssertEqual(try tcpRoundTrip(port: removed), "hello\n")
        let keptListener = try XCTUnwrap(listenerInode(port: kept))

        let loop = ClientLoop(port: kept)
        loop.waitForSuccesses(20)
        for round in 1...3 {
            try rewriteConfig(round % 2 == 1 ? config(service("kept"), service("added", port: added)) : config(service("kept")), for: daemon)
            reload(daemon, to: round + 1)
            XCTAssertTrue(daemon.log.contains("reloaded: generation \(round + 1)"), daemon.log)
            loop.waitForSuccesses(20)
        }
        try rewriteConfig(config(service("kept"), service("added", port: added)), for: daemon)
        reload(daemon, to: 5)
        XCTAssertTrue(daemon.log.contains("reloaded: generation 5"), daemon.log)
        loop.waitForSuccesses(20)
        let (successes, failures) = loop.stop()
        XCTAssertEqual(failures, [], "client loop failures during reloads")
        XCTAssertGreaterThan(successes, 80)

        XCTAssertEqual(try tcpRoundTrip(port: added, "new\n"), "new\n")
        XCTAssertTrue(waitUntilRefused(port: removed), "removed service still answers")
        XCTAssertEqual(listenerInode(port: kept), keptListener, "the unchanged service's socket was replaced")
    }

    func testBrokenConfigKeepsTheOldServicesServing() throws {
        let daemon = try startDaemon(config(service("echo")))
        try rewriteConfig(config(service("echo"), trailer: "\n[service broken]\nlisten = tcp://127.0.0.1:99999\nhandler = nope\n"), for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("reload failed"), daemon.log)
        XCTAssertTrue(daemon.log.contains("reload failed"), daemon.log)
        XCTAssertTrue(daemon.log.contains("socketserverd.conf:"), "the error names file:line:\n\(daemon.log)")
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")
        XCTAssertNil(daemon.reapIfExited())
    }

    /// A truncated file (an editor's crash, a half-finished copy) on HUP: refused, every port still served.
    func testEmptyConfigOnHUPKeepsServing() throws {
        let daemon = try startDaemon(config(service("echo"), service("other")))
        rewriteConfig("")
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("reload failed"), daemon.log)
        XCTAssertTrue(daemon.log.contains("reload failed"), daemon.log)
        XCTAssertTrue(daemon.log.contains("socketserverd.conf: no [service NAME] section"), daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("echo")), "hello\n")
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("other")), "hello\n")
        rewriteConfig("[daemon]\ngraceful_timeout = 5\n")
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("reload failed"), daemon.log)
        XCTAssertTrue(daemon.log.components(separatedBy: "reload failed").count - 1 >= 2, daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("echo")), "hello\n")
        XCTAssertNil(daemon.reapIfExited())
    }

    func testWorkersStartedByAReloadHoldOnlyTheirOwnListener() throws {
        let second = freePort()
        let daemon = try startDaemon(config(service("first", workers: 1)))
        let first = daemon.port
        try rewriteConfig(config(service("first", workers: 1), service("second", port: second, workers: 1)), for: daemon)
        reload(daemon, to: 2)
        XCTAssertTrue(daemon.log.contains("reloaded: generation 2"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("started for service second (generation 2)"), daemon.log)
        XCTAssertTrue(daemon.waitForWorkers(2), "the old generation is gone")
        let listeners = [try XCTUnwrap(listenerInode(port: first)), try XCTUnwrap(listenerInode(port: second))]
        for worker in daemon.workerPIDs() {
            let held = socketInodes(of: worker).filter { listeners.contains($0) }
            XCTAssertEqual(held.count, 1, "worker \(worker) holds \(held.count) listeners:\n\(daemon.log)")
        }
        // The service removed again frees its port at once (no worker of another service holds it).
        try rewriteConfig(config(service("first", workers: 1)), for: daemon)
        reload(daemon, to: 3)
        XCTAssertTrue(daemon.log.contains("reloaded: generation 3"), daemon.log)
        XCTAssertTrue(waitUntilRefused(port: second), "the removed service's port is still open")
    }
}
