// A worker whose master died (even by SIGKILL) stops accepting at once and exits within
// graceful_timeout, even with a persistent client that never leaves.
import Foundation
import SocketServer
import XCTest

final class OrphanTests: DaemonTestCase {
    func testAnOrphanedWorkerWithAPersistentClientExitsWithinGracefulTimeout() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [daemon]
            graceful_timeout = 2

            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 1
            timeout = 60
            """)
        let client = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(5))
        defer { client.close() }
        try client.sendAll("still here\n")
        XCTAssertEqual(try client.recv(64), Array("still here\n".utf8))
        guard let worker = daemon.workerPIDs().first else { return XCTFail("no worker") }
        daemon.signal(SIGKILL)
        XCTAssertNotNil(daemon.waitExit())
        let killed = Date()
        // Adopted by this test process (a subreaper): it must exit by itself.
        var status: Int32 = 0
        while waitpid(worker, &status, WNOHANG) == 0, Date().timeIntervalSince(killed) < 10 { usleep(20_000) }
        let lived = Date().timeIntervalSince(killed)
        XCTAssertLessThan(lived, 6, "the orphaned worker served its persistent client for \(lived) s")
        XCTAssertTrue(daemon.log.contains("the master is gone"), daemon.log)
        XCTAssertTrue(waitUntilRefused(port: port), "port still served after the master died")
    }
}
