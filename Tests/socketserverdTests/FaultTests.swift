// Faults: hung requests, crashing workers, fd exhaustion. Only the faulty request's client suffers.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class FaultTests: DaemonTestCase {
    func testHungRequestKillsAndReplacesItsWorker() throws {
        let marker = uniqueSleep()
        let hang = script("hang.sh", "#!/bin/sh\n\(marker)\n")
        let daemon = try startDaemon(service: Service("hang", handler: "exec", ["command": hang, "timeout": 0, "request_timeout": 1, "workers": 1]),
                                     Service("ok", handler: "echo", ["workers": 1]))
        let client = try connectTCP(port: daemon.port("hang"))
        let local = try client.getSockName()
        let start = Date()
        XCTAssertEqual(try readAll(client), [], "the hung request's client sees its connection end")
        XCTAssertLessThan(Date().timeIntervalSince(start), 8)
        XCTAssertTrue(daemon.waitForLog("service hang: request from \(local) has run for"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("started for service hang", count: 2), "the worker is replaced:\n\(daemon.log)")
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("ok")), "hello\n")
        XCTAssertTrue(waitForNoProcess(matching: marker), "the hung program survived its worker")
    }

    func testWorkerKilledBySegfaultMidRequestIsRespawned() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1, "concurrency": "threads"]))
        let client = try connectTCP(port: daemon.port)
        XCTAssertEqual(try ask(client, "one\n"), "one\n")
        let worker = try XCTUnwrap(daemon.workerPIDs().first)
        kill(worker, SIGSEGV)
        XCTAssertTrue(daemon.waitForLog("worker \(worker) (service echo) was killed by SIGSEGV"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("while serving \(try client.getSockName())"), "the log names its client:\n\(daemon.log)")
        XCTAssertEqual((try? client.recv(100)) ?? [], [], "its client sees the connection end")
        XCTAssertTrue(daemon.waitForLog("started for service echo", count: 2), daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")
    }

    func testFileDescriptorExhaustionBacksOffAndRecovers() throws {
        // A worker allowed only 24 descriptors runs out while the test holds connections open.
        let daemon = try startDaemon(service: Service("echo", ["workers": 1, "concurrency": "threads", "threads": 64, "timeout": 0]),
                                     wrapper: "ulimit -n 24;")
        var held: [Socket] = []
        for index in 0..<40 {
            guard let socket = try? connectTCP(port: daemon.port, timeout: .seconds(2)) else { break }
            held.append(socket)
            try? socket.sendAll("held \(index)\n")
        }
        XCTAssertTrue(daemon.waitForLog("cannot accept"), daemon.log)
        let worker = try XCTUnwrap(daemon.workerPIDs().first)
        let cpuBefore = cpuTicks(worker)
        pause(.seconds(2))  // measuring a rate over time, not waiting for an event
        let cpuUsed = cpuTicks(worker) - cpuBefore
        XCTAssertLessThan(cpuUsed, 50, "the worker spins while out of descriptors (\(cpuUsed) ticks in 2 s)")
        XCTAssertEqual(daemon.log.components(separatedBy: "cannot accept").count - 1, 1, "logged once per interval")
        for socket in held { socket.close() }
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n", "serves again once descriptors are free")
    }
}
