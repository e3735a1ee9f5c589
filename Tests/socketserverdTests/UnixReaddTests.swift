// A Unix service removed by one reload and added back by the next, while the old workers still
// drain a persistent client, comes back without an error for the operator.
import Foundation
import SocketServer
import XCTest

final class UnixReaddTests: DaemonTestCase {
    func testAUnixServiceRemovedAndReaddedWhileDrainingComesBack() throws {
        let port = freePort()
        // A directory only the master may write to, as /run/socketserverd is (as root: owned by root, 0755).
        let run = directory + "/run"
        mkdir(run, 0o755)
        let path = run + "/u.sock"
        func config(unix: Bool) -> String {
            """
            [daemon]
            graceful_timeout = 20

            [service keep]
            listen = tcp://127.0.0.1:\(port)
            handler = echo

            """ + (unix ? "[service u]\nlisten = unix:\(path)\nhandler = echo\nsocket_mode = 0666\ntimeout = 60\n" : "")
        }
        let daemon = try startDaemon(config(unix: true))
        let client = try Socket(family: .unix, type: .stream)
        defer { client.close() }
        try client.setTimeout(.seconds(5))
        try client.connect(.unix(path: path))
        try client.sendAll("before\n")
        XCTAssertEqual(try client.recv(64), Array("before\n".utf8))

        rewriteConfig(config(unix: false))
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("reloaded: generation 2"), daemon.log)
        rewriteConfig(config(unix: true))
        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("reloaded: generation 3", timeout: 10), daemon.log)
        XCTAssertFalse(daemon.log.contains("reload failed"), daemon.log)
        // New clients reach the service again, and the draining one is still served.
        let fresh = try Socket(family: .unix, type: .stream)
        defer { fresh.close() }
        try fresh.setTimeout(.seconds(5))
        try fresh.connect(.unix(path: path))
        try fresh.sendAll("after\n")
        XCTAssertEqual(try fresh.recv(64), Array("after\n".utf8))
        try client.sendAll("still\n")
        XCTAssertEqual(try client.recv(64), Array("still\n".utf8))
    }
}
