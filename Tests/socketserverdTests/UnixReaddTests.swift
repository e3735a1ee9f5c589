// A Unix service removed by one reload and added back by the next, while the old workers still
// drain a persistent client, comes back without an error for the operator.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class UnixReaddTests: DaemonTestCase {
    func testAUnixServiceRemovedAndReaddedWhileDrainingComesBack() throws {
        // A directory only the master may write to, as /run/socketserverd is (as root: owned by root, 0755).
        let path = makeDirectory("run", mode: 0o755) + "/u.sock"
        let keep = Service("keep", handler: "echo")
        // The daemon binds the Unix socket itself: removing and adding its file is what is tested.
        let unix = Service("u", handler: "echo", listen: .address("unix:\(path)"), ["socket_mode": "0666", "timeout": 60])
        func config(unix withUnix: Bool) -> DaemonConfigBuilder {
            DaemonConfigBuilder(daemon: ["graceful_timeout": 20], services: [keep] + (withUnix ? [unix] : []))
        }
        let daemon = try startDaemon(config(unix: true))
        let client = try connectClient(.unix(path: path))
        defer { client.close() }
        XCTAssertEqual(try ask(client, "before\n"), "before\n")

        try rewriteConfig(config(unix: false), for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("generation 2"), daemon.log)
        XCTAssertTrue(daemon.log.contains("reloaded: generation 2"), daemon.log)
        try rewriteConfig(config(unix: true), for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("generation 3"), daemon.log)
        XCTAssertTrue(daemon.log.contains("reloaded: generation 3"), daemon.log)
        XCTAssertFalse(daemon.log.contains("reload failed"), daemon.log)
        // New clients reach the service again, and the draining one is still served.
        let fresh = try connectClient(.unix(path: path))
        defer { fresh.close() }
        XCTAssertEqual(try ask(fresh, "after\n"), "after\n")
        XCTAssertEqual(try ask(client, "still\n"), "still\n")
    }
}
