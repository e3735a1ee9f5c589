// Signals at bad times: during start-up, during a stop, and a fast stop with programs running.
import Foundation
import SocketServer
import XCTest

final class SignalTimingTests: PluginTestCase {
    /// HUP (and TTIN) while a graceful stop drains must not bind the ports again or start workers:
    /// the stop would then never end.
    func testHupDuringAGracefulStopIsIgnoredAndTheStopEnds() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [daemon]
            graceful_timeout = 5
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            concurrency = threads
            """)
        let client = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(5))
        try client.sendAll("held\n")
        XCTAssertEqual(String(decoding: try client.recv(100), as: UTF8.self), "held\n")
        daemon.signal(SIGTERM)
        XCTAssertTrue(daemon.waitForLog("graceful stop"), daemon.log)
        daemon.signal(SIGHUP)
        daemon.signal(SIGTTIN)
        XCTAssertTrue(daemon.waitForLog("SIGHUP ignored: the daemon is stopping"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("SIGTTIN ignored: the daemon is stopping"), daemon.log)
        XCTAssertTrue(waitUntilRefused(port: port), "the port accepts again after SIGTERM")
        client.close()
        XCTAssertEqual(daemon.waitExit(timeout: 15), 0, daemon.log)
        XCTAssertFalse(daemon.log.contains("generation 2"), daemon.log)
        let afterReady = daemon.notifications()
        XCTAssertTrue(afterReady.contains { $0.contains("STOPPING=1") }, "\(afterReady)")
        XCTAssertFalse(afterReady.contains { $0.contains("READY=1") }, "READY after STOPPING: \(afterReady)")
    }

    /// Signals an operator or logrotate may send while the daemon checks its config and plugins
    /// (which can take seconds) are held until it can handle them; none kills or stops it.
    func testSignalsDuringStartUpAreHandledOnceRunning() throws {
        let port = freePort()
        let goAhead = directory + "/go"
        try compileCPlugin(defines: ["SLOW_CHECK=\"\(goAhead)\""])
        let path = writeConfig(pluginHeader([("ctest", "libctest.so")]) + """
            [service shout]
            listen = tcp://127.0.0.1:\(port)
            handler = ctest.shout
            repeat = 1
            workers = 1
            """, to: configDirectory + "/socketserverd.conf")
        let daemon = try DaemonProcess(configPath: path, directory: directory)
        daemons.append(daemon)
        // The plugin check has begun: the daemon is inside its start-up.
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: goAhead + ".started"), Date() < deadline {
            XCTAssertNil(daemon.reapIfExited(), daemon.log)
            usleep(10_000)
        }
        for signal in [SIGHUP, SIGUSR1, SIGTTIN, SIGTTOU] { daemon.signal(signal) }
        usleep(100_000)  // let them land while the check still waits (nothing to wait on: they are held)
        XCTAssertNil(daemon.reapIfExited(), "a signal during start-up killed the daemon:\n\(daemon.log)")
        writeConfig("", to: goAhead)
        try daemon.waitReady()
        XCTAssertTrue(daemon.waitForLog("SIGUSR1: log reopened"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("reloaded: generation 2"), daemon.log)
        XCTAssertEqual(try ask(port: port, "hi\n"), "v1 C: HI\n")
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
    }

    /// A fast stop (INT) ends workers at once; the programs their requests started (exec) must
    /// not outlive them, holding clients' sockets with no time limit.
    func testFastStopLeavesNoProgramRunning() throws {
        let port = freePort()
        let marker = uniqueSleep()
        let program = directory + "/hang.sh"
        writeConfig("#!/bin/sh\necho started\n\(marker)\n", to: program)
        chmod(program, 0o755)
        let daemon = try startDaemon("""
            [service hang]
            listen = tcp://127.0.0.1:\(port)
            handler = exec
            command = \(program)
            timeout = 0
            workers = 1
            """)
        let client = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(10))
        defer { client.close() }
        XCTAssertEqual(String(decoding: try client.recv(100), as: UTF8.self), "started\n")
        let deadline = Date().addingTimeInterval(5)  // "started" comes just before the sleep does
        while !processExists(matching: marker), Date() < deadline { usleep(10_000) }
        XCTAssertTrue(processExists(matching: marker), "the request's program never ran")
        daemon.signal(SIGINT)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
        XCTAssertTrue(waitForNoProcess(matching: marker), "the request's program outlived the daemon")
        XCTAssertEqual((try? readAll(client)) ?? [], [], "its client sees the connection end")
    }
}
