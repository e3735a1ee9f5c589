// STATUS= (what `systemctl status` shows) follows the daemon: TTIN/TTOU, a worker's death and its
// replacement, an upgrade; not only start and reload.
import Foundation
import SocketServer
import XCTest

final class StatusLineTests: DaemonTestCase {
    /// Waits for a STATUS= line containing `text`; returns it.
    func waitForStatus(_ daemon: DaemonProcess, _ text: String, timeout: TimeInterval = 10) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            for message in daemon.notifications(timeout: 0.2) {
                if let line = message.split(separator: "\n").first(where: { $0.hasPrefix("STATUS=") && $0.contains(text) }) {
                    return String(line)
                }
            }
        }
        return nil
    }

    func testTheStatusLineFollowsWorkerChanges() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 2
            """)
        daemon.signal(SIGTTIN)
        XCTAssertNotNil(waitForStatus(daemon, ": 1 services, 3 workers, generation 1"), daemon.log)
        daemon.signal(SIGTTOU)
        XCTAssertNotNil(waitForStatus(daemon, ": 1 services, 2 workers, generation 1"), daemon.log)
        guard let worker = daemon.workerPIDs().first else { return XCTFail("no worker") }
        kill(worker, SIGKILL)
        XCTAssertNotNil(waitForStatus(daemon, ": 1 services, 1 workers"), daemon.log)
        XCTAssertNotNil(waitForStatus(daemon, ": 1 services, 2 workers"), "the replacement is not shown:\n\(daemon.log)")
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")
    }
}
