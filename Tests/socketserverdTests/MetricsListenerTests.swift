// The metrics process and its listener under the master: who it runs as, restarted when killed,
// renewed by a reload on the same listening socket, served over a Unix socket; and the checks of
// the address: the running daemon's own listener passes, a port someone else holds does not.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class MetricsListenerTests: MetricsTestCase {
    /// Killed, the metrics process is replaced and serves again on the same listener; it runs as
    /// the workers' user with no capability, and holds no socket of the master's but its own.
    func testAKilledMetricsProcessIsReplaced() throws {
        let port = freePort()
        let daemon = try startDaemon(config(metrics: "tcp://127.0.0.1:\(port)", echo()))
        _ = try scrape(loopback(port))
        let first = try XCTUnwrap(waitForMetricsProcess(of: daemon), daemon.log)
        let status = processStatus(first)
        XCTAssertEqual(status["CapEff"], "0000000000000000", "the metrics process keeps capabilities")
        // The workers' account: `nobody` under a root master (no `user` set), else the master's user.
        let uid = geteuid() == 0 ? (getpwnam("nobody")?.pointee.pw_uid ?? 65534) : getuid()
        XCTAssertEqual(status["Uid"], Array(repeating: "\(uid)", count: 4).joined(separator: "\t"), "the metrics process's user")
        let listener = try XCTUnwrap(listenerInode(port: port))
        let serviceListener = try XCTUnwrap(listenerInode(port: daemon.port))
        XCTAssertTrue(socketInodes(of: first).contains(listener))
        XCTAssertFalse(socketInodes(of: first).contains(serviceListener), "the metrics process holds a service's socket")

        kill(first, SIGKILL)
        XCTAssertTrue(daemon.waitForLog("metrics process \(first) was killed by SIGKILL; respawning"), daemon.log)
        let second = try XCTUnwrap(waitForMetricsProcess(of: daemon, other: first), daemon.log)
        XCTAssertNotEqual(second, first)
        assertEverySeries(try scrape(loopback(port)), services: ["echo"])
        XCTAssertEqual(listenerInode(port: port), listener, "the listener was replaced")
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")
    }

    /// A reload keeps the listening socket and starts a metrics process for the new generation,
    /// which serves the new set of services; `-t` on the running daemon's config passes; a config
    /// without `metrics` closes the listener.
    func testAReloadKeepsTheListenerAndRenewsTheProcess() throws {
        let port = freePort()
        let metrics = "tcp://127.0.0.1:\(port)"
        let daemon = try startDaemon(config(metrics: metrics, echo(), echo("gone", workers: 1)))
        assertEverySeries(try scrape(loopback(port)), services: ["echo", "gone"])
        let listener = try XCTUnwrap(listenerInode(port: port))
        let first = try XCTUnwrap(waitForMetricsProcess(of: daemon))

        let check = try runDaemonBinary(["-t", "-c", configPath])
        XCTAssertEqual(check.status, 0, "-t on the running daemon's config:\n\(check.output)")

        let added = freePort()
        try rewriteConfig(config(metrics: metrics, echo(), Service("added", handler: "echo", listen: .tcpPort(added), ["workers": 1])),
                          for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("generation 2"), daemon.log)
        XCTAssertTrue(daemon.log.contains("reloaded: generation 2"), daemon.log)
        let second = try XCTUnwrap(waitForMetricsProcess(of: daemon, other: first), daemon.log)
        XCTAssertTrue(daemon.waitGone([first], within: .seconds(10)), "the old metrics process is still there:\n\(daemon.log)")
        let renewed = try scrape(loopback(port), until: "socketserverd_generation", [:], reaches: 2)
        assertEverySeries(renewed, services: ["echo", "added"])
        XCTAssertEqual(listenerInode(port: port), listener, "the reload replaced the metrics listener")
        XCTAssertTrue(socketInodes(of: second).contains(listener))

        try rewriteConfig(DaemonConfigBuilder(daemon: ["graceful_timeout": 5], services: [echo()]), for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("generation 3"), daemon.log)
        XCTAssertTrue(daemon.waitGone([second], within: .seconds(10)), "metrics off, its process still runs:\n\(daemon.log)")
        XCTAssertTrue(waitUntilRefused(port: port), "metrics off, its port still accepts")
        XCTAssertNil(metricsPID(of: daemon))
    }

    /// `metrics = unix:/path`: the master binds it (the file given to the workers' user), the
    /// metrics process serves it, `-t` on the running daemon passes, and the file goes at exit.
    func testAUnixMetricsListener() throws {
        let path = makeDirectory("run", mode: 0o755) + "/metrics.sock"
        let daemon = try startDaemon(config(metrics: "unix:\(path)", echo(workers: 1)))
        assertEverySeries(try scrape(.unix(path: path)), services: ["echo"])
        let check = try runDaemonBinary(["--check-config", "--config", configPath])
        XCTAssertEqual(check.status, 0, check.output)
        if geteuid() == 0, let worker = daemon.workerPIDs().first(where: { commandLine(of: $0).contains("worker echo") }) {
            var info = stat()
            XCTAssertEqual(lstat(path, &info), 0)
            XCTAssertEqual(processStatus(worker)["Uid"]?.split(separator: "\t").first.map(String.init), String(info.st_uid))
        }
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
        XCTAssertFalse(fileExists(path), "the metrics socket file is left behind")
    }

    /// systemd may pass the metrics listener as it passes the services' (matched by its address).
    func testAMetricsSocketPassedBySystemd() throws {
        let sockets = try PassedSockets(for: [echo(), Service("metrics", handler: "echo")])
        defer { sockets.close() }
        let port = try XCTUnwrap(sockets.ports["metrics"])
        let text = try config(metrics: "tcp://127.0.0.1:\(port)", echo()).text(ports: sockets.ports)
        let daemon = try startDaemon(configAt: writeConfig(text, to: configPath), passing: sockets)
        XCTAssertTrue(daemon.log.contains("metrics: using socket tcp://127.0.0.1:\(port) passed by systemd"), daemon.log)
        let passed = try XCTUnwrap(listenerInode(port: port))
        assertEverySeries(try scrape(loopback(port)), services: ["echo"])
        XCTAssertEqual(listenerInode(port: port), passed, "the daemon bound a socket of its own")
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("echo")), "hello\n")
    }

    /// A port another program holds (listening, or only bound), or a service's own address, is an
    /// error at the `metrics` line for `-t`; a reload to such a config fails and the old one serves on.
    func testAnAddressInUseIsAnErrorAtItsLine() throws {
        let taken = try Socket(family: .inet, type: .stream)
        defer { taken.close() }
        try taken.bind(loopback(0))
        try taken.listen()
        let busy = Int(try XCTUnwrap(taken.getSockName().port))
        let bound = try Socket(family: .inet, type: .stream)
        defer { bound.close() }
        try bound.bind(loopback(0))
        let boundPort = Int(try XCTUnwrap(bound.getSockName().port))
        for port in [busy, boundPort] {
            let result = try checkConfig("[daemon]\nmetrics = tcp://127.0.0.1:\(port)\n\n[service echo]\nlisten = tcp://127.0.0.1:7\nhandler = echo\n")
            XCTAssertEqual(result.status, 1, result.output)
            XCTAssertTrue(result.stderr.contains("check.conf:2: metrics tcp://127.0.0.1:\(port): the address is in use by another program"),
                          result.stderr)
        }
        let clash = try checkConfig("[daemon]\nmetrics = tcp://0.0.0.0:7007\n\n[service echo]\nlisten = tcp://127.0.0.1:7007\nhandler = echo\n")
        XCTAssertEqual(clash.status, 1, clash.output)
        XCTAssertTrue(clash.stderr.contains("check.conf:2: metrics tcp://0.0.0.0:7007 conflicts with service 'echo', "
                                            + "which listens on tcp://127.0.0.1:7007 (\(configDirectory)/check.conf:5)"), clash.stderr)

        let port = freePort()
        let daemon = try startDaemon(config(metrics: "tcp://127.0.0.1:\(port)", echo()))
        try rewriteConfig(config(metrics: "tcp://127.0.0.1:\(busy)", echo()), for: daemon)
        daemon.signal(SIGHUP)
        XCTAssertNotNil(daemon.waitForStatus("reload failed"), daemon.log)
        XCTAssertTrue(daemon.log.contains("socketserverd.conf:3: metrics tcp://127.0.0.1:\(busy): the address is in use by another program"),
                      daemon.log)
        assertEverySeries(try scrape(loopback(port)), services: ["echo"])
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")
    }
}
