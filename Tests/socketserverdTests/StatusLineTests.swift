// STATUS= (what `systemctl status` shows) follows the daemon: TTIN/TTOU, a worker's death and its
// replacement, an upgrade; not only start and reload.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class StatusLineTests: DaemonTestCase {
    func testTheStatusLineFollowsWorkerChanges() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 2]))
        daemon.signal(SIGTTIN)
        XCTAssertNotNil(daemon.waitForStatus(": 1 services, 3 workers, 0 active, 0 served, generation 1"), daemon.log)
        daemon.signal(SIGTTOU)
        XCTAssertNotNil(daemon.waitForStatus(": 1 services, 2 workers, 0 active, 0 served, generation 1"), daemon.log)
        guard let worker = daemon.workerPIDs().first else { return XCTFail("no worker") }
        kill(worker, SIGKILL)
        XCTAssertNotNil(daemon.waitForStatus(": 1 services, 1 workers"), daemon.log)
        XCTAssertNotNil(daemon.waitForStatus(": 1 services, 2 workers"), "the replacement is not shown:\n\(daemon.log)")
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")
    }
}
