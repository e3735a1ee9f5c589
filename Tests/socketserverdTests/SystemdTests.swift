// The systemd contract: sd_notify messages in order, abstract notify sockets, socket activation.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class SystemdTests: DaemonTestCase {
    func testNotifyProtocolInOrder() throws {
        // An abstract-namespace notify socket, as systemd may hand out.
        let daemon = try startDaemon(DaemonConfigBuilder(daemon: ["graceful_timeout": 5], services: [Service("echo", ["workers": 2])]),
                                     notifyPath: "@ssd-test-\(getpid())-\(directory.hashValue)", ready: false)
        let messages = daemon.notifications(until: "READY=1")
        let ready = try XCTUnwrap(messages.first { $0.contains("READY=1") }, daemon.log)
        XCTAssertTrue(ready.contains("MAINPID=\(daemon.pid)"), ready)
        XCTAssertTrue(ready.contains("STATUS=socketserverd ") && ready.contains(": 1 services, 2 workers"), ready)
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port), "hello\n")

        daemon.signal(SIGHUP)
        let reload = daemon.notifications(until: "generation 2")
        XCTAssertTrue(daemon.log.contains("reloaded: generation 2"), daemon.log)
        let reloading = try XCTUnwrap(reload.firstIndex { $0.contains("RELOADING=1") }, "\(reload)")
        XCTAssertNotNil(reload[reloading].range(of: #"MONOTONIC_USEC=\d+"#, options: .regularExpression), reload[reloading])
        let readyAgain = try XCTUnwrap(reload.lastIndex { $0.contains("READY=1") }, "\(reload)")
        XCTAssertLessThan(reloading, readyAgain)
        XCTAssertTrue(reload[readyAgain].contains("generation 2"), reload[readyAgain])

        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
        XCTAssertTrue(daemon.notifications().contains { $0.contains("STOPPING=1") })
    }

    func testWatchdogPingsAtHalfTheInterval() throws {
        let daemon = try startDaemon(service: Service("a", handler: "echo", ["workers": 1]), environment: ["WATCHDOG_USEC": "400000"])
        let start = Date()
        var pings = 0
        while pings < 3, Date().timeIntervalSince(start) < 5 {
            pings += daemon.notifications(timeout: .milliseconds(500)).filter { $0 == "WATCHDOG=1" }.count
        }
        XCTAssertGreaterThanOrEqual(pings, 3, "expected a WATCHDOG=1 about every 0.2 s")
    }

    /// The sockets the test binds (as systemd would) are the daemon's listeners, matched to
    /// services by address or, as here for the UDP one, could be by name (LISTEN_FDNAMES).
    func testSocketActivationUsesPassedSockets() throws {
        let config = DaemonConfigBuilder(services: [Service("web", handler: "upper", ["workers": 1]),
                                                    Service("dgram", handler: "echo", listen: .udp, ["workers": 1])])
        let sockets = try PassedSockets(for: config.services)
        defer { sockets.close() }
        let tcp = try XCTUnwrap(sockets.bound.first { $0.service == "web" }?.socket)
        let path = writeConfig(try config.text(ports: sockets.ports), to: configPath)
        let daemon = try DaemonProcess(configPath: path, directory: directory, environment: ["LISTEN_FDNAMES": "web:dgram"],
                                       passing: sockets.descriptors)
        daemons.append(daemon)
        try daemon.waitReady()
        XCTAssertEqual(try tcpRoundTrip(port: sockets.ports["web"] ?? 0, "activated\n"), "ACTIVATED\n")
        XCTAssertEqual(try udpRoundTrip(port: sockets.ports["dgram"] ?? 0, "dgram"), "dgram")
        XCTAssertEqual(daemon.log.components(separatedBy: "passed by systemd").count - 1, 2, daemon.log)
        // No rebinding: the test's own socket is the daemon's listener (a second bind would have failed).
        XCTAssertFalse(daemon.log.contains("bind"), daemon.log)
        daemon.stop()
        // The test's descriptors still refer to the same listening socket.
        XCTAssertEqual(try tcp.getOption(.acceptConnections), 1)
    }

    func testPassedSocketMatchingNoServiceIsAnError() throws {
        let port = freePort()
        let stray = try PassedSockets(for: [Service("stray")])
        defer { stray.close() }
        let other = stray.ports["stray"] ?? 0
        let path = writeConfig("[service a]\nlisten = tcp://127.0.0.1:\(port)\nhandler = echo\n", to: configPath)
        let daemon = try DaemonProcess(configPath: path, directory: directory, environment: ["LISTEN_FDNAMES": "stray"],
                                       passing: stray.descriptors)
        daemons.append(daemon)
        let status = daemon.waitExit()
        XCTAssertNotNil(status)
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(daemon.log.contains("match no service") && daemon.log.contains("127.0.0.1:\(other)") && daemon.log.contains("stray"),
                      daemon.log)
    }
}
