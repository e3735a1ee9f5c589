// Signals at bad times: during start-up, during a stop, and a fast stop with programs running.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class SignalTimingTests: PluginTestCase {
    /// HUP (and TTIN) while a graceful stop drains must not bind the ports again or start workers:
    /// the stop would then never end.
    func testHupDuringAGracefulStopIsIgnoredAndTheStopEnds() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1, "concurrency": "threads"]), daemon: ["graceful_timeout": 5])
        let client = try connectTCP(port: daemon.port)
        XCTAssertEqual(try ask(client, "held\n"), "held\n")
        let stopping = daemon.beginGracefulStop()
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.log.contains("graceful stop"), daemon.log)
        daemon.signal(SIGTTIN)
        XCTAssertTrue(daemon.waitForLog("SIGHUP ignored: the daemon is stopping"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("SIGTTIN ignored: the daemon is stopping"), daemon.log)
        XCTAssertTrue(waitUntilRefused(port: daemon.port), "the port accepts again after SIGTERM")
        client.close()
        XCTAssertEqual(daemon.waitExit(within: .seconds(15)), 0, daemon.log)
        XCTAssertFalse(daemon.log.contains("generation 2"), daemon.log)
        let afterReady = stopping + daemon.notifications()
        XCTAssertTrue(afterReady.contains { $0.contains("STOPPING=1") }, "\(afterReady)")
        XCTAssertFalse(afterReady.contains { $0.contains("READY=1") }, "READY after STOPPING: \(afterReady)")
    }

    /// Signals an operator or logrotate may send while the daemon checks its config and plugins
    /// (which can take seconds) are held until it can handle them; none kills or stops it.
    func testSignalsDuringStartUpAreHandledOnceRunning() throws {
        let goAhead = directory + "/go"
        let daemon = try startDaemonInsideItsPluginCheck(goAhead: goAhead)
        let held = [SIGHUP, SIGUSR1, SIGTTIN, SIGTTOU]
        for signal in held { daemon.signal(signal) }
        // They land while the check still waits: each stays pending in the master until it runs.
        XCTAssertTrue(eventually { held.allSatisfy { isPending($0, in: daemon.pid) } || daemon.reapIfExited() != nil },
                      "the signals were not held:\n\(daemon.log)")
        XCTAssertNil(daemon.reapIfExited(), "a signal during start-up killed the daemon:\n\(daemon.log)")
        writeConfig("", to: goAhead)
        try daemon.waitReady()
        XCTAssertTrue(daemon.waitForLog("SIGUSR1: log reopened"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("reloaded: generation 2"), daemon.log)
        XCTAssertEqual(try ask(port: daemon.port, "hi\n"), "v1 C: HI\n")
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
    }

    /// A fast stop (INT) ends workers at once; the programs their requests started (exec) must
    /// not outlive them, holding clients' sockets with no time limit.
    func testFastStopLeavesNoProgramRunning() throws {
        let marker = uniqueSleep()
        let program = script("hang.sh", "#!/bin/sh\necho started\n\(marker)\n")
        let daemon = try startDaemon(service: Service("hang", handler: "exec", ["command": program, "timeout": 0, "workers": 1]))
        let client = try connectTCP(port: daemon.port)
        defer { client.close() }
        XCTAssertEqual(try readLine(client), "started\n")
        // "started" comes just before the sleep does.
        XCTAssertTrue(eventually { processExists(matching: marker) }, "the request's program never ran")
        daemon.signal(SIGINT)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
        XCTAssertTrue(waitForNoProcess(matching: marker), "the request's program outlived the daemon")
        XCTAssertEqual((try? readAll(client)) ?? [], [], "its client sees the connection end")
    }
}
