// Workers dying, the master dying, graceful stop, worker count signals.
import Foundation
import SocketServer
import XCTest

final class LifecycleTests: DaemonTestCase {
    func testKilledWorkerIsRespawnedAndOthersUnaffected() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [daemon]
            log_level = debug
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 2
            concurrency = sync
            timeout = 0
            """)
        XCTAssertTrue(daemon.waitForLog("serving tcp://", count: 2), daemon.log)
        // A persistent connection: find which worker holds it.
        let client = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(5))
        try client.sendAll("first\n")
        XCTAssertEqual(String(decoding: try client.recv(100), as: UTF8.self), "first\n")
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
        try client.sendAll("second\n")
        XCTAssertEqual(String(decoding: try client.recv(100), as: UTF8.self), "second\n")
        client.close()
        XCTAssertEqual(daemon.workerPIDs().count, 2)
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
    }

    func testTermLetsAnInFlightRequestFinishAndExitsZero() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [daemon]
            graceful_timeout = 10
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            concurrency = threads
            """)
        let client = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(5))
        try client.sendAll("before\n")
        XCTAssertEqual(String(decoding: try client.recv(100), as: UTF8.self), "before\n")
        daemon.signal(SIGTERM)
        XCTAssertTrue(daemon.waitForLog("graceful stop"), daemon.log)
        // New connections are refused, the open one is still served.
        XCTAssertTrue(waitUntilRefused(port: port), "still accepting after SIGTERM")
        try client.sendAll("during\n")
        XCTAssertEqual(String(decoding: try client.recv(100), as: UTF8.self), "during\n")
        XCTAssertNil(daemon.reapIfExited(), "master exited with a request in flight")
        client.close()
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
    }

    func testCrashingWorkerBacksOff() throws {
        let port = freePort()
        let uploads = directory + "/uploads"
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        chmod(uploads, 0o777)
        let daemon = try startDaemon("""
            [service upload]
            listen = tcp://127.0.0.1:\(port)
            handler = upload
            directory = \(uploads)
            workers = 1
            """)
        // The directory vanishes: every new worker fails at start-up.
        try FileManager.default.removeItem(atPath: uploads)
        for pid in daemon.workerPIDs() { kill(pid, SIGKILL) }
        XCTAssertTrue(daemon.waitForLog("failures in a row", count: 3, timeout: 10), daemon.log)
        let starts = daemon.log.components(separatedBy: "started for service upload").count - 1
        XCTAssertLessThan(starts, 12, "crash loop not slowed down:\n\(daemon.log)")
        // Once the cause is fixed, the service comes back.
        try FileManager.default.createDirectory(atPath: uploads, withIntermediateDirectories: true)
        chmod(uploads, 0o777)
        let deadline = Date().addingTimeInterval(15)
        var served = false
        while !served, Date() < deadline {
            served = (try? uploadRoundTrip(port: port)) == true
            if !served { usleep(100_000) }
        }
        XCTAssertTrue(served, daemon.log)
    }

    func testWorkersExitWhenTheMasterIsKilled() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 2
            """)
        let workers = daemon.workerPIDs()
        XCTAssertEqual(workers.count, 2)
        daemon.signal(SIGKILL)
        XCTAssertNotNil(daemon.waitExit())
        // Orphans are adopted by this process (a subreaper); they must exit on their own.
        let deadline = Date().addingTimeInterval(10)
        var remaining = workers
        while !remaining.isEmpty, Date() < deadline {
            var status: Int32 = 0
            remaining = remaining.filter { waitpid($0, &status, WNOHANG) == 0 }
            usleep(20_000)
        }
        XCTAssertEqual(remaining, [], "workers outlived their master")
        XCTAssertTrue(waitUntilRefused(port: port), "port still served after the master died")
    }

    func testTtinAndTtouChangeTheWorkerCount() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 2
            """)
        XCTAssertEqual(daemon.workerPIDs().count, 2)
        daemon.signal(SIGTTIN)
        XCTAssertTrue(daemon.waitForLog("started for service echo", count: 3), daemon.log)
        XCTAssertEqual(daemon.workerPIDs().count, 3)
        // One signal at a time: two identical signals sent at once may arrive as one.
        for expected in [2, 1] {
            daemon.signal(SIGTTOU)
            let deadline = Date().addingTimeInterval(10)
            while daemon.workerPIDs().count != expected, Date() < deadline { usleep(20_000) }
            XCTAssertEqual(daemon.workerPIDs().count, expected, daemon.log)
        }
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
    }

    func testMaxRequestsRecyclesWorkersWithoutFailingRequests() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            concurrency = sync
            max_requests = 10
            """)
        for index in 0..<40 { XCTAssertEqual(try tcpRoundTrip(port: port, "r\(index)\n"), "r\(index)\n") }
        XCTAssertTrue(daemon.waitForLog("(max_requests); retiring", count: 2), daemon.log)
        XCTAssertTrue(daemon.waitForLog("started for service echo", count: 3), daemon.log)
        XCTAssertFalse(daemon.log.contains("failures in a row"), "a recycled worker must not count as a crash")
    }

    /// A worker that retires at max_requests while a persistent client keeps it busy is replaced at
    /// once: new connections do not wait for that client to leave.
    func testRetiringWorkerIsReplacedWhileItsPersistentClientStays() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [daemon]
            graceful_timeout = 30
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            concurrency = threads
            max_requests = 3
            """)
        let first = try XCTUnwrap(daemon.workerPIDs().first)
        let held = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(10))
        defer { held.close() }
        try held.sendAll("held\n")
        XCTAssertEqual(String(decoding: try held.recv(100), as: UTF8.self), "held\n")
        for index in 0..<2 { XCTAssertEqual(try tcpRoundTrip(port: port, "r\(index)\n"), "r\(index)\n") }
        XCTAssertTrue(daemon.waitForLog("worker \(first) (service echo) is retiring (max_requests); starting its replacement"),
                      daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: port, "new\n", timeout: .seconds(10)), "new\n", daemon.log)
        try held.sendAll("still\n")
        XCTAssertEqual(String(decoding: try held.recv(100), as: UTF8.self), "still\n", "the held client is still served")
        XCTAssertTrue(daemon.workerPIDs().contains(first))
        held.close()
        XCTAssertTrue(daemon.waitForLog("worker \(first) (service echo) exited with status 0"), daemon.log)
    }

    /// One upload of a tiny file; true if the server answered OK.
    func uploadRoundTrip(port: Int) throws -> Bool {
        let socket = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(5))
        defer { socket.close() }
        let body = Array("data".utf8)
        let header = Array(#"{"cmd":"put","filename":"f.txt","filesize":\#(body.count)}"#.utf8)
        let length = UInt32(header.count)
        try socket.sendAll(withUnsafeBytes(of: length.littleEndian) { Array($0) } + header + body)
        return String(decoding: try socket.recv(200), as: UTF8.self).hasPrefix("OK")
    }
}

final class LogFileTests: DaemonTestCase {
    func testLogFileIsReopenedOnUsr1() throws {
        let port = freePort()
        let logFile = directory + "/ssd.log"
        let daemon = try startDaemon("""
            [daemon]
            log_file = \(logFile)
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            """)
        XCTAssertTrue(try String(contentsOfFile: logFile, encoding: .utf8).contains("serving 1 service"))
        // logrotate moves the file away, then asks for a new one.
        try FileManager.default.moveItem(atPath: logFile, toPath: logFile + ".1")
        daemon.signal(SIGUSR1)
        // The file appears when the master opens it, a moment before the line is written: wait for the line.
        let deadline = Date().addingTimeInterval(10)
        func newLog() -> String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }
        while !newLog().contains("log reopened"), Date() < deadline { usleep(20_000) }
        XCTAssertTrue(newLog().contains("log reopened"), newLog())
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
    }
}

extension LogFileTests {
    /// Workers write the log too: after USR1 their lines go to the new file, not the rotated one.
    func testWorkersFollowTheReopenedLog() throws {
        let port = freePort()
        let logFile = directory + "/ssd.log"
        let daemon = try startDaemon("""
            [daemon]
            log_file = \(logFile)
            log_level = debug
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            """)
        let worker = try XCTUnwrap(daemon.workerPIDs().first)
        try FileManager.default.moveItem(atPath: logFile, toPath: logFile + ".1")
        daemon.signal(SIGUSR1)
        let deadline = Date().addingTimeInterval(10)
        func newLog() -> String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }
        while !newLog().contains("log reopened"), Date() < deadline { usleep(20_000) }
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
        // The worker logs each request at debug level; the line must land in the new file.
        while !newLog().contains("[\(worker)] debug"), Date() < deadline { usleep(20_000) }
        XCTAssertTrue(newLog().contains("[\(worker)] debug: service echo: worker \(worker) serving"), newLog())
    }
}
