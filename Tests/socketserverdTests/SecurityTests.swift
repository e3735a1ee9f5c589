// Who may connect, who the workers are, and which files the daemon trusts or touches.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class SecurityTests: DaemonTestCase {
    func testAllowListsAreEnforcedForTcpAndUdpOverV4AndV6() throws {
        let has6 = hasIPv6Loopback
        var config = DaemonConfigBuilder(services: [
            Service("open", handler: "echo", ["workers": 1, "allow": "127.0.0.0/8"]),
            Service("closed", handler: "echo", ["workers": 1, "allow": "10.0.0.0/8, ::1"]),
            Service("udpclosed", handler: "echo", listen: .udp, ["workers": 1, "allow": "192.168.0.0/16"]),
        ])
        if has6 {
            // A v6 wildcard listener sees IPv4 clients as ::ffff:127.0.0.1; an IPv4 range still matches them
            // only if the socket is dual-stack. The daemon binds v6-only, so test ::1 against v6 ranges.
            config.services.append(Service("six", handler: "echo", listen: .tcp6, ["workers": 1, "allow": "::1/128"]))
        }
        let daemon = try startDaemon(config)
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("open")), "hello\n")
        XCTAssertNotEqual((try? tcpRoundTrip(port: daemon.port("closed"))) ?? "", "hello\n", "a client outside allow was served")
        XCTAssertTrue(daemon.waitForLog("service closed: refused 127.0.0.1:"), daemon.log)
        XCTAssertThrowsError(try udpRoundTrip(port: daemon.port("udpclosed"), "x", timeout: .milliseconds(500)), "UDP allow ignored")
        XCTAssertTrue(daemon.waitForLog("service udpclosed: refused 127.0.0.1:"), daemon.log)
        if has6 { XCTAssertEqual(try tcpRoundTrip(port: daemon.port("six"), host: "::1"), "hello\n") }
    }

    func testWorkersNeverRunAsRoot() throws {
        try XCTSkipIf(getuid() != 0, "needs root to check privilege dropping")
        let daemon = try startDaemon(service: Service("a", handler: "echo", ["workers": 2]), daemon: ["log_level": "debug"])
        // A worker logs that it serves once it has become the user (just forked, it is still root).
        XCTAssertTrue(daemon.waitForLog(" serving tcp://", count: 2), daemon.log)
        func uids(_ pid: pid_t) throws -> [Substring] {
            let status = try XCTUnwrap(processStatus(pid)["Uid"], "no process \(pid)")
            return status.split(separator: "\t")
        }
        let workers = daemon.workerPIDs()
        XCTAssertEqual(workers.count, 2)
        for pid in workers {
            let ids = try uids(pid)
            XCTAssertFalse(ids.contains("0"), "worker \(pid) runs as root: \(ids)")
        }
        // The master stays root (it binds and opens root-only files on reload) and serves no client.
        XCTAssertEqual(try uids(daemon.pid), ["0", "0", "0", "0"])
    }

    func testSocketOwnerAndMode() throws {
        try XCTSkipIf(getuid() != 0, "needs root to give a socket file away")
        let path = directory + "/owned.sock"
        _ = try startDaemon("""
            [service owned]
            listen = unix:\(path)
            handler = echo
            workers = 1
            socket_owner = daemon:nogroup
            socket_mode = 0640
            """)
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0)
        XCTAssertEqual(info.st_uid, try XCTUnwrap(getpwnam("daemon")).pointee.pw_uid)
        XCTAssertEqual(info.st_gid, try XCTUnwrap(getgrnam("nogroup")).pointee.gr_gid)
        XCTAssertEqual(info.st_mode & 0o777, 0o640)
    }

    func testWorldWritableConfigIsRefused() throws {
        let path = writeConfig("[service a]\nlisten = tcp://127.0.0.1:7\nhandler = echo\n", to: configDirectory + "/open.conf")
        chmod(path, 0o666)
        let result = try runDaemonBinary(["-t", "-c", path])
        let text = result.output
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(text.contains("refusing \(path): it is writable by everyone (mode 0666"), text)
    }

    func testStaleUnixSocketIsReplacedAndALiveOneIsNeverStolen() throws {
        let stalePath = directory + "/stale.sock", livePath = directory + "/live.sock"
        // A stale file: bound, then its owner went away without unlinking it.
        let stale = try Socket(family: .unix, type: .stream)
        try stale.bind(.unix(path: stalePath))
        stale.close()
        // A live one: something still accepts on it.
        let live = try Socket(family: .unix, type: .stream)
        try live.bind(.unix(path: livePath))
        try live.listen(4)

        let daemon = try startDaemon("""
            [service stale]
            listen = unix:\(stalePath)
            handler = upper
            workers = 1
            socket_mode = 0660
            """)
        let client = try connectClient(.unix(path: stalePath))
        try client.sendAll("abc")
        XCTAssertEqual(String(decoding: try readExactly(client, 3), as: UTF8.self), "ABC")
        var info = stat()
        XCTAssertEqual(stat(stalePath, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o660)
        if getuid() == 0 { XCTAssertEqual(info.st_uid, try XCTUnwrap(getpwnam("nobody")).pointee.pw_uid, "socket file not owned by the daemon's user") }
        client.close()
        daemon.stop()

        let path = writeConfig("[service live]\nlisten = unix:\(livePath)\nhandler = echo\n", to: configDirectory + "/live.conf")
        let second = try DaemonProcess(configPath: path, directory: directory, notifyPath: directory + "/notify2.sock")
        daemons.append(second)
        XCTAssertNotNil(second.waitExit())
        XCTAssertTrue(second.log.contains("in use by a running process"), second.log)
        XCTAssertEqual(try live.getOption(.acceptConnections), 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: livePath), "a live socket's file was removed")

        // A datagram service on the live stream socket's path: the probe gets EPROTOTYPE, which is
        // a live socket too, not a stale one.
        let gram = writeConfig("[service gram]\nlisten = unixgram:\(livePath)\nhandler = echo\n", to: configDirectory + "/gram.conf")
        let third = try DaemonProcess(configPath: gram, directory: directory, notifyPath: directory + "/notify3.sock")
        daemons.append(third)
        XCTAssertNotNil(third.waitExit(), third.log)
        XCTAssertTrue(third.log.contains("as a socket of the other type"), third.log)
        let stillLive = try connectClient(.unix(path: livePath))
        stillLive.close()
    }
}
