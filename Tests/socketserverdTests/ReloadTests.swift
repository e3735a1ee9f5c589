// SIGHUP: a new generation without a failed request; a broken config keeps the old one serving.
import Foundation
import SocketServer
import XCTest

final class ReloadTests: DaemonTestCase {
    func config(_ services: String) -> String {
        """
        [daemon]
        graceful_timeout = 5

        \(services)
        """
    }

    func service(_ name: String, port: Int, handler: String = "echo", workers: Int = 2) -> String {
        """
        [service \(name)]
        listen = tcp://127.0.0.1:\(port)
        handler = \(handler)
        workers = \(workers)
        concurrency = threads

        """
    }

    func testReloadAddsAndRemovesServicesWithoutAFailedRequest() throws {
        let kept = freePort(), removed = freePort(), added = freePort()
        let daemon = try startDaemon(config(service("kept", port: kept) + service("removed", port: removed)))
        XCTAssertEqual(try tcpRoundTrip(port: removed), "hello\n")
        let keptListener = try listenerInode(port: kept)

        let loop = ClientLoop(port: kept)
        loop.waitForSuccesses(20)
        for round in 1...3 {
            rewriteConfig(config(service("kept", port: kept) + (round % 2 == 1 ? service("added", port: added) : "")))
            daemon.signal(SIGHUP)
            XCTAssertTrue(daemon.waitForLog("reloaded: generation \(round + 1)"), daemon.log)
            loop.waitForSuccesses(20)
        }
        rewriteConfig(config(service("kept", port: kept) + service("added", port: added)))
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("reloaded: generation 5"), daemon.log)
        loop.waitForSuccesses(20)
        let (successes, failures) = loop.stop()
        XCTAssertEqual(failures, [], "client loop failures during reloads")
        XCTAssertGreaterThan(successes, 80)

        XCTAssertEqual(try tcpRoundTrip(port: added, "new\n"), "new\n")
        XCTAssertTrue(waitUntilRefused(port: removed), "removed service still answers")
        XCTAssertEqual(try listenerInode(port: kept), keptListener, "the unchanged service's socket was replaced")
    }

    func testBrokenConfigKeepsTheOldServicesServing() throws {
        let port = freePort()
        let daemon = try startDaemon(config(service("echo", port: port)))
        rewriteConfig(config(service("echo", port: port)) + "\n[service broken]\nlisten = tcp://127.0.0.1:99999\nhandler = nope\n")
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("reload failed"), daemon.log)
        XCTAssertTrue(daemon.log.contains("socketserverd.conf:"), "the error names file:line:\n\(daemon.log)")
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
        XCTAssertNil(daemon.reapIfExited())
    }

    /// A truncated file (an editor's crash, a half-finished copy) on HUP: refused, every port still served.
    func testEmptyConfigOnHUPKeepsServing() throws {
        let port = freePort(), other = freePort()
        let daemon = try startDaemon(config(service("echo", port: port) + service("other", port: other)))
        rewriteConfig("")
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("reload failed"), daemon.log)
        XCTAssertTrue(daemon.log.contains("socketserverd.conf: no [service NAME] section"), daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
        XCTAssertEqual(try tcpRoundTrip(port: other), "hello\n")
        rewriteConfig("[daemon]\ngraceful_timeout = 5\n")
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("reload failed", count: 2), daemon.log)
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
        XCTAssertNil(daemon.reapIfExited())
    }

    func testWorkersStartedByAReloadHoldOnlyTheirOwnListener() throws {
        let first = freePort(), second = freePort()
        let daemon = try startDaemon(config(service("first", port: first, workers: 1)))
        rewriteConfig(config(service("first", port: first, workers: 1) + service("second", port: second, workers: 1)))
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("reloaded: generation 2"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("started for service second (generation 2)"), daemon.log)
        XCTAssertTrue(waitForWorkerCount(daemon, 2), "the old generation is gone")
        let listeners = [try listenerInode(port: first), try listenerInode(port: second)]
        for worker in daemon.workerPIDs() {
            let held = socketInodes(worker).filter { listeners.contains($0) }
            XCTAssertEqual(held.count, 1, "worker \(worker) holds \(held.count) listeners:\n\(daemon.log)")
        }
        // The service removed again frees its port at once (no worker of another service holds it).
        rewriteConfig(config(service("first", port: first, workers: 1)))
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("reloaded: generation 3"), daemon.log)
        XCTAssertTrue(waitUntilRefused(port: second), "the removed service's port is still open")
    }

    func waitForWorkerCount(_ daemon: DaemonProcess, _ count: Int, timeout: TimeInterval = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if daemon.workerPIDs().count == count { return true }
            usleep(20_000)
        }
        return false
    }

    /// The inodes of the sockets `pid` has open (its fd links read "socket:[INODE]").
    func socketInodes(_ pid: pid_t) -> [String] {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
        return fds.compactMap { fd in
            guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)"),
                  link.hasPrefix("socket:[") else { return nil }
            return String(link.dropFirst(8).dropLast())
        }
    }

    /// The socket inode of the TCP listener on `port`, from /proc/net/tcp.
    func listenerInode(port: Int) throws -> String {
        let table = try String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)
        let hexPort = String(format: ":%04X", port)
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            if fields.count > 9, fields[1].hasSuffix(hexPort), fields[3] == "0A" { return String(fields[9]) }
        }
        throw TestFailure.timeout("no listener on port \(port)")
    }
}
