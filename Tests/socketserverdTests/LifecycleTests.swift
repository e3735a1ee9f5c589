// Workers dying, the master dying, graceful stop, worker count signals.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class LifecycleTests: DaemonTestCase {
    func testKilledWorkerIsRespawnedAndOthersUnaffected() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 2, "concurrency": "sync", "timeout": 0]),
                                     daemon: ["log_level": "debug"])
        XCTAssertTrue(daemon.waitForLog("serving tcp://", count: 2), daemon.log)
        // A persistent connection: find which worker holds it.
        let client = try connectTCP(port: daemon.port)
        XCTAssertEqual(try ask(client, "first\n"), "first\n")
        let local = try client.getSockName()
        let holderLine = daemon.log.split(separator: "\n").first { $0.hasSuffix("serving \(local)") }
        let holder = holderLine.flatMap { $0.split(separator: "worker ").last?.split(separator: " ").first }.flatMap { pid_t($0) }
        let workers = daemon.workerPIDs()
        XCTAssertEqual(workers.count, 2)
        guard let holder, let victim = workers.first(where: { $0 != holder }) else {
            return XCTFail("could not find the connection's worker:\n\(daemon.log)")
        }
        kill(victim, SIGKILL)
        XCTAssertTrue(daemon.waitForLog("worker \(victim) (service echo) was killed by SIGKILL"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("started for service echo", count: 3), daemon.log)
        // The other worker's client never noticed.
        XCTAssertEqual(try ask(client, "second\n"), "second\n")
        client.close()
        XCTAssertEqual(daemon.workerPIDs().count, 2)
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")
    }

    func testTermLetsAnInFlightRequestFinishAndExitsZero() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1, "concurrency": "threads"]), daemon: ["graceful_timeout": 10])
        let client = try connectTCP(port: daemon.port)
        XCTAssertEqual(try ask(client, "before\n"), "before\n")
        XCTAssertTrue(daemon.beginGracefulStop().last?.contains("STOPPING=1") == true, daemon.log)
        // New connections are refused, the open one is still served.
        XCTAssertTrue(daemon.log.contains("graceful stop"), daemon.log)
        XCTAssertTrue(waitUntilRefused(port: daemon.port), "still accepting after SIGTERM")
        XCTAssertEqual(try ask(client, "during\n"), "during\n")
        XCTAssertNil(daemon.reapIfExited(), "master exited with a request in flight")
        client.close()
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
    }

    func testCrashingWorkerBacksOff() throws {
        let uploads = makeDirectory("uploads")
        let daemon = try startDaemon(service: Service("upload", ["directory": uploads, "workers": 1]))
        // The directory vanishes: every new worker fails at start-up.
        removeTree(uploads)
        for pid in daemon.workerPIDs() { kill(pid, SIGKILL) }
        XCTAssertTrue(daemon.waitForLog("failures in a row", count: 3, within: .seconds(10)), daemon.log)
        let starts = daemon.log.components(separatedBy: "started for service upload").count - 1
        XCTAssertLessThan(starts, 12, "crash loop not slowed down:\n\(daemon.log)")
        // Once the cause is fixed, the service comes back.
        _ = makeDirectory("uploads")
        let served = eventually(within: .seconds(15), every: .milliseconds(100)) {
            (try? upload(port: daemon.port, name: "f.txt", content: Array("data".utf8)))?.hasPrefix("OK") == true
        }
        XCTAssertTrue(served, daemon.log)
    }

    func testWorkersExitWhenTheMasterIsKilled() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 2]))
        let workers = daemon.workerPIDs()
        XCTAssertEqual(workers.count, 2)
        daemon.signal(SIGKILL)
        XCTAssertNotNil(daemon.waitExit())
        // Orphans are adopted by this process (a subreaper); they must exit on their own.
        let remaining = ChildReaping.waitForExit(of: workers, within: .seconds(10))
        XCTAssertEqual(remaining, [], "workers outlived their master")
        XCTAssertTrue(waitUntilRefused(port: daemon.port), "port still served after the master died")
    }

    func testTtinAndTtouChangeTheWorkerCount() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 2]))
        XCTAssertEqual(daemon.workerPIDs().count, 2)
        daemon.signal(SIGTTIN)
        XCTAssertNotNil(daemon.waitForStatus(": 1 services, 3 workers"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("started for service echo", count: 3), daemon.log)
        XCTAssertEqual(daemon.workerPIDs().count, 3)
        // One signal at a time: two identical signals sent at once may arrive as one.
        for expected in [2, 1] {
            daemon.signal(SIGTTOU)
            _ = daemon.waitForWorkers(expected)
            XCTAssertEqual(daemon.workerPIDs().count, expected, daemon.log)
        }
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")
    }

    func testMaxRequestsRecyclesWorkersWithoutFailingRequests() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1, "concurrency": "sync", "max_requests": 10]))
        for index in 0..<40 { XCTAssertEqual(try tcpRoundTrip(port: daemon.port, "r\(index)\n"), "r\(index)\n") }
        XCTAssertTrue(daemon.waitForLog("(max_requests); retiring", count: 2), daemon.log)
        XCTAssertTrue(daemon.waitForLog("started for service echo", count: 3), daemon.log)
        XCTAssertFalse(daemon.log.contains("failures in a row"), "a recycled worker must not count as a crash")
    }

    /// A worker that retires at max_requests while a persistent client keeps it busy is replaced at
    /// once: new connections do not wait for that client to leave.
    func testRetiringWorkerIsReplacedWhileItsPersistentClientStays() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1, "concurrency": "threads", "max_requests": 3]),
                                     daemon: ["graceful_timeout": 30])
        let first = try XCTUnwrap(daemon.workerPIDs().first)
        let held = try connectTCP(port: daemon.port)
        defer { held.close() }
        XCTAssertEqual(try ask(held, "held\n"), "held\n")
        for index in 0..<2 { XCTAssertEqual(try tcpRoundTrip(port: daemon.port, "r\(index)\n"), "r\(index)\n") }
        XCTAssertTrue(daemon.waitForLog("worker \(first) (service echo) is retiring by itself; starting its replacement"),
                      daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port, "new\n"), "new\n", daemon.log)
        XCTAssertEqual(try ask(held, "still\n"), "still\n", "the held client is still served")
        XCTAssertTrue(daemon.workerPIDs().contains(first))
        held.close()
        XCTAssertTrue(daemon.waitForLog("worker \(first) (service echo) exited with status 0"), daemon.log)
    }
}

final class LogFileTests: DaemonTestCase {
    func testLogFileIsReopenedOnUsr1() throws {
        let logFile = directory + "/ssd.log"
        let daemon = try startDaemon(service: Service("echo", ["workers": 1]), daemon: ["log_file": logFile])
        XCTAssertTrue(readText(logFile).contains("serving 1 service"))
        // logrotate moves the file away, then asks for a new one.
        try FileManager.default.moveItem(atPath: logFile, toPath: logFile + ".1")
        daemon.signal(SIGUSR1)
        // The file appears when the master opens it, a moment before the line is written: wait for the line.
        eventually(within: .seconds(10)) { readText(logFile).contains("log reopened") }
        XCTAssertTrue(readText(logFile).contains("log reopened"), readText(logFile))
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")
    }
}

extension LogFileTests {
    /// Workers write the log too: after USR1 their lines go to the new file, not the rotated one.
    func testWorkersFollowTheReopenedLog() throws {
        let logFile = directory + "/ssd.log"
        let daemon = try startDaemon(service: Service("echo", ["workers": 1]), daemon: ["log_file": logFile, "log_level": "debug"])
        let worker = try XCTUnwrap(daemon.workerPIDs().first)
        try FileManager.default.moveItem(atPath: logFile, toPath: logFile + ".1")
        daemon.signal(SIGUSR1)
        eventually(within: .seconds(10)) { readText(logFile).contains("log reopened") }
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")
        // The worker logs each request at debug level; the line must land in the new file.
        eventually(within: .seconds(10)) { readText(logFile).contains("[\(worker)] debug") }
        XCTAssertTrue(readText(logFile).contains("[\(worker)] debug: service echo: worker \(worker) serving"), readText(logFile))
    }
}
