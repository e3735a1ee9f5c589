// A Swift handler that throws or traps (a Swift runtime error), through the fixture plugin
// libfaults-fixture.so (Tests/PluginFixtures/FaultsPlugin): a thrown error fails one request and is
// logged with its client; a trap costs the worker, which is logged with its client and replaced.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class SwiftHandlerFaultTests: PluginTestCase {
    /// A daemon serving `faults.fault` as service `f`.
    private func startFaultService(_ keys: ConfigKeys, environment: [String: String] = [:]) throws -> DaemonProcess {
        try copyBuiltPlugin("libfaults-fixture.so")
        return try startDaemon(pluginConfig([("faults", "libfaults-fixture.so")], Service("f", handler: "faults.fault", keys)),
                               environment: environment)
    }

    func testThrowingHandlerFailsOnlyItsRequest() throws {
        let daemon = try startFaultService(["workers": 1, "concurrency": "threads"])
        let worker = try XCTUnwrap(daemon.workerPIDs().first)
        let bystander = try connectTCP(port: daemon.port)
        defer { bystander.close() }
        XCTAssertEqual(try ask(bystander, "before\n"), "ok before\n")

        let client = try connectTCP(port: daemon.port)
        defer { client.close() }
        let address = try client.getSockName()
        try client.sendAll("throw\n")
        XCTAssertEqual(try readAll(client), [], "the failed request's connection is closed")
        XCTAssertTrue(daemon.waitForLog("client \(address)"), daemon.log)
        XCTAssertTrue(daemon.log.contains("asked to throw"), daemon.log)

        XCTAssertEqual(try ask(bystander, "after\n"), "ok after\n", "another client on the same worker is unaffected")
        XCTAssertEqual(try ask(port: daemon.port, "next\n"), "ok next\n")
        XCTAssertEqual(daemon.workerPIDs(), [worker], "the worker lives on")
        XCTAssertFalse(daemon.log.contains("respawning"), daemon.log)
    }

    func testTrappingHandlerCostsItsWorkerWhichIsReplaced() throws {
        let daemon = try startFaultService(["workers": 1, "concurrency": "threads"])
        let worker = try XCTUnwrap(daemon.workerPIDs().first)

        let client = try connectTCP(port: daemon.port)
        defer { client.close() }
        let address = try client.getSockName()
        XCTAssertEqual(try ask(client, "hello\n"), "ok hello\n")
        try client.sendAll("trap\n")
        XCTAssertEqual((try? readAll(client)) ?? [], [], "its client sees the connection end")

        // A Swift trap is SIGILL on x86_64 (ud2) and SIGTRAP on arm64 (brk).
        XCTAssertTrue(daemon.waitForLog("worker \(worker) (service f) was killed by SIG"), daemon.log)
        XCTAssertTrue(daemon.log.contains("SIGILL") || daemon.log.contains("SIGTRAP"), daemon.log)
        XCTAssertTrue(daemon.log.contains("while serving \(address)"), "the log names the client:\n\(daemon.log)")
        XCTAssertTrue(daemon.waitForLog("started for service f", count: 2), "the worker is replaced:\n\(daemon.log)")
        XCTAssertEqual(try ask(port: daemon.port, "again\n"), "ok again\n")
        XCTAssertNil(daemon.reapIfExited(), "the master survived")
    }

    /// With concurrency = fork, a trap costs only the request child. The request it left on the
    /// scoreboard is ended when the worker reaps the child, so request_timeout does not later take
    /// the worker for hung and kill it.
    func testTrapInARequestChildCostsOnlyThatRequest() throws {
        // The watchdog's pings show the master's loop turning (see waitForLoopTurn).
        let daemon = try startFaultService(["workers": 1, "concurrency": "fork", "request_timeout": 2],
                                           environment: ["WATCHDOG_USEC": "200000"])
        let worker = try XCTUnwrap(daemon.workerPIDs().first)
        let client = try connectTCP(port: daemon.port)
        defer { client.close() }
        let address = try client.getSockName()
        let sent = ContinuousClock.now
        try client.sendAll("trap\n")
        XCTAssertEqual((try? readAll(client)) ?? [], [], "its client sees the connection end")
        XCTAssertTrue(daemon.waitForLog("service f: request child "), daemon.log)
        XCTAssertTrue(daemon.log.contains("while serving \(address)"), daemon.log)
        // Past request_timeout (with a margin for the request's start), the master has looked at
        // the scoreboard and found nothing to kill.
        XCTAssertTrue(daemon.waitForLoopTurn(after: sent + .seconds(3)), "no watchdog ping:\n\(daemon.log)")
        XCTAssertFalse(daemon.log.contains("killing worker"), daemon.log)
        XCTAssertEqual(daemon.workerPIDs(), [worker], "the worker lives on")
        XCTAssertEqual(try ask(port: daemon.port, "after\n"), "ok after\n")
    }
}
