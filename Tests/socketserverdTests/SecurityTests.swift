// Who may connect, who the workers are, and which files the daemon trusts or touches.
import Foundation
import SocketServer
import XCTest

final class SecurityTests: DaemonTestCase {
    func testAllowListsAreEnforcedForTcpAndUdpOverV4AndV6() throws {
        let open4 = freePort(), closed4 = freePort(), udpClosed = freePort(), dual = freePort()
        let has6 = (try? Socket(family: .inet6, type: .stream).bind(.inet6(host: "::1", port: 0))) != nil
        var config = """
            [service open]
            listen = tcp://127.0.0.1:\(open4)
            handler = echo
            workers = 1
            allow = 127.0.0.0/8

            [service closed]
            listen = tcp://127.0.0.1:\(closed4)
            handler = echo
            workers = 1
            allow = 10.0.0.0/8, ::1

            [service udpclosed]
            listen = udp://127.0.0.1:\(udpClosed)
            handler = echo
            workers = 1
            allow = 192.168.0.0/16

            """
        if has6 {
            // A v6 wildcard listener sees IPv4 clients as ::ffff:127.0.0.1; an IPv4 range still matches them
            // only if the socket is dual-stack. The daemon binds v6-only, so test ::1 against v6 ranges.
            config += """
                [service six]
                listen = tcp://[::1]:\(dual)
                handler = echo
                workers = 1
                allow = ::1/128

                """
        }
        let daemon = try startDaemon(config)
        XCTAssertEqual(try tcpRoundTrip(port: open4), "hello\n")
        XCTAssertNotEqual((try? tcpRoundTrip(port: closed4)) ?? "", "hello\n", "a client outside allow was served")
        XCTAssertTrue(daemon.waitForLog("service closed: refused 127.0.0.1:"), daemon.log)
        XCTAssertThrowsError(try datagramRoundTrip(.inet(host: "127.0.0.1", port: UInt16(udpClosed)), "x", timeout: .milliseconds(500)), "UDP allow ignored")
        XCTAssertTrue(daemon.waitForLog("service udpclosed: refused 127.0.0.1:"), daemon.log)
        if has6 { XCTAssertEqual(try tcpRoundTrip(port: dual, host: "::1"), "hello\n") }
    }

    func testWorkersNeverRunAsRoot() throws {
        try XCTSkipIf(getuid() != 0, "needs root to check privilege dropping")
        let port = freePort()
        let daemon = try startDaemon("[daemon]\nlog_level = debug\n[service a]\nlisten = tcp://127.0.0.1:\(port)\nhandler = echo\nworkers = 2\n")
        // A worker logs that it serves once it has become the user (just forked, it is still root).
        XCTAssertTrue(daemon.waitForLog(" serving tcp://", count: 2), daemon.log)
        func uids(_ pid: pid_t) throws -> [Substring] {
            let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
            let line = status.split(separator: "\n").first { $0.hasPrefix("Uid:") } ?? ""
            return Array(line.split(separator: "\t").dropFirst())
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
        XCTAssertEqual(info.st_uid, getpwnam("daemon")!.pointee.pw_uid)
        XCTAssertEqual(info.st_gid, getgrnam("nogroup")!.pointee.gr_gid)
        XCTAssertEqual(info.st_mode & 0o777, 0o640)
    }

    func testWorldWritableConfigIsRefused() throws {
        let path = writeConfig("[service a]\nlisten = tcp://127.0.0.1:7\nhandler = echo\n", to: configDirectory + "/open.conf")
        chmod(path, 0o666)
        let out = directory + "/out.txt"
        let pid = try spawn(DaemonProcess.binaryPath, ["-t", "-c", path], env: [], stdout: out, stderr: out)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        XCTAssertNotEqual(status, 0)
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
        let client = try createConnection(to: .unix(path: stalePath), timeout: .seconds(5))
        try client.sendAll("abc")
        XCTAssertEqual(String(decoding: try client.recv(10), as: UTF8.self), "ABC")
        var info = stat()
        XCTAssertEqual(stat(stalePath, &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o660)
        if getuid() == 0 { XCTAssertEqual(info.st_uid, getpwnam("nobody")!.pointee.pw_uid, "socket file not owned by the daemon's user") }
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
        let stillLive = try createConnection(to: .unix(path: livePath), timeout: .seconds(5))
        stillLive.close()
    }
}
