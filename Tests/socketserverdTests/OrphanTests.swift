// A worker whose master died (even by SIGKILL) stops accepting at once and exits within
// graceful_timeout, even with a persistent client that never leaves.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class OrphanTests: DaemonTestCase {
    func testAnOrphanedWorkerWithAPersistentClientExitsWithinGracefulTimeout() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1, "timeout": 60]), daemon: ["graceful_timeout": 2])
        let client = try connectTCP(port: daemon.port)
        defer { client.close() }
        XCTAssertEqual(try ask(client, "still here\n"), "still here\n")
        guard let worker = daemon.workerPIDs().first else { return XCTFail("no worker") }
        daemon.signal(SIGKILL)
        XCTAssertNotNil(daemon.waitExit())
        let killed = Date()
        // Adopted by this test process (a subreaper): it must exit by itself.
        _ = ChildReaping.waitForExit(of: [worker], within: .seconds(10))
        let lived = Date().timeIntervalSince(killed)
        XCTAssertLessThan(lived, 6, "the orphaned worker served its persistent client for \(lived) s")
        XCTAssertTrue(daemon.log.contains("the master is gone"), daemon.log)
        XCTAssertTrue(waitUntilRefused(port: daemon.port), "port still served after the master died")
    }
}
