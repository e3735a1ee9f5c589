// Faults: hung requests, crashing workers, fd exhaustion. Only the faulty request's client suffers.
import Foundation
import SocketServer
import XCTest

final class FaultTests: DaemonTestCase {
    func testHungRequestKillsAndReplacesItsWorker() throws {
        let hangPort = freePort(), okPort = freePort()
        let hang = directory + "/hang.sh"
        let marker = uniqueSleep()
        writeConfig("#!/bin/sh\n\(marker)\n", to: hang)
        chmod(hang, 0o755)
        let daemon = try startDaemon("""
            [service hang]
            listen = tcp://127.0.0.1:\(hangPort)
            handler = exec
            command = \(hang)
            timeout = 0
            request_timeout = 1
            workers = 1

            [service ok]
            listen = tcp://127.0.0.1:\(okPort)
            handler = echo
            workers = 1
            """)
        let client = try createConnection(host: "127.0.0.1", port: hangPort, timeout: .seconds(10))
        let local = try client.getSockName()
        let start = Date()
        XCTAssertEqual(try readAll(client), [], "the hung request's client sees its connection end")
        XCTAssertLessThan(Date().timeIntervalSince(start), 8)
        XCTAssertTrue(daemon.waitForLog("service hang: request from \(local) has run for"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("started for service hang", count: 2), "the worker is replaced:\n\(daemon.log)")
        XCTAssertEqual(try tcpRoundTrip(port: okPort), "hello\n")
        XCTAssertTrue(waitForNoProcess(matching: marker), "the hung program survived its worker")
    }

    func testWorkerKilledBySegfaultMidRequestIsRespawned() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            concurrency = threads
            """)
        let client = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(5))
        try client.sendAll("one\n")
        XCTAssertEqual(String(decoding: try client.recv(100), as: UTF8.self), "one\n")
        let worker = try XCTUnwrap(daemon.workerPIDs().first)
        kill(worker, SIGSEGV)
        XCTAssertTrue(daemon.waitForLog("worker \(worker) (service echo) was killed by SIGSEGV"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("while serving \(try client.getSockName())"), "the log names its client:\n\(daemon.log)")
        XCTAssertEqual((try? client.recv(100)) ?? [], [], "its client sees the connection end")
        XCTAssertTrue(daemon.waitForLog("started for service echo", count: 2), daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
    }

    func testFileDescriptorExhaustionBacksOffAndRecovers() throws {
        let port = freePort()
        let path = writeConfig("""
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            concurrency = threads
            threads = 64
            timeout = 0
            """, to: configDirectory + "/socketserverd.conf")
        // A worker allowed only 24 descriptors runs out while the test holds connections open.
        let daemon = try DaemonProcess(configPath: path, directory: directory, environment: [:], wrapper: "ulimit -n 24;")
        daemons.append(daemon)
        try daemon.waitReady()
        var held: [Socket] = []
        for index in 0..<40 {
            guard let socket = try? createConnection(host: "127.0.0.1", port: port, timeout: .seconds(2)) else { break }
            held.append(socket)
            try? socket.sendAll("held \(index)\n")
        }
        XCTAssertTrue(daemon.waitForLog("cannot accept"), daemon.log)
        let worker = try XCTUnwrap(daemon.workerPIDs().first)
        let cpuBefore = cpuTicks(worker)
        Thread.sleep(forTimeInterval: 2)  // measuring a rate over time, not waiting for an event
        let cpuUsed = cpuTicks(worker) - cpuBefore
        XCTAssertLessThan(cpuUsed, 50, "the worker spins while out of descriptors (\(cpuUsed) ticks in 2 s)")
        XCTAssertEqual(daemon.log.components(separatedBy: "cannot accept").count - 1, 1, "logged once per interval")
        for socket in held { socket.close() }
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n", "serves again once descriptors are free")
    }

    /// utime + stime of a process, in clock ticks.
    func cpuTicks(_ pid: pid_t) -> Int {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0)
    }
}
