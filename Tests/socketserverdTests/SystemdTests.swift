// The systemd contract: sd_notify messages in order, abstract notify sockets, socket activation.
import Foundation
import SocketServer
import XCTest

final class SystemdTests: DaemonTestCase {
    func testNotifyProtocolInOrder() throws {
        let port = freePort()
        let path = writeConfig("""
            [daemon]
            graceful_timeout = 5
            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 2
            """, to: configDirectory + "/socketserverd.conf")
        // An abstract-namespace notify socket, as systemd may hand out.
        let daemon = try DaemonProcess(configPath: path, directory: directory, notifyPath: "@ssd-test-\(getpid())-\(port)")
        daemons.append(daemon)
        var messages: [String] = []
        let deadline = Date().addingTimeInterval(15)
        while !messages.contains(where: { $0.contains("READY=1") }), Date() < deadline { messages += daemon.notifications() }
        let ready = try XCTUnwrap(messages.first { $0.contains("READY=1") }, daemon.log)
        XCTAssertTrue(ready.contains("MAINPID=\(daemon.pid)"), ready)
        XCTAssertTrue(ready.contains("STATUS=socketserverd ") && ready.contains(": 1 services, 2 workers"), ready)
        XCTAssertEqual(try tcpRoundTrip(port: port), "hello\n")

        daemon.signal(SIGHUP)
        XCTAssertTrue(daemon.waitForLog("reloaded: generation 2"), daemon.log)
        let reload = daemon.notifications(timeout: 2)
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
        let port = freePort()
        let path = writeConfig("[service a]\nlisten = tcp://127.0.0.1:\(port)\nhandler = echo\nworkers = 1\n",
                               to: configDirectory + "/socketserverd.conf")
        let daemon = try DaemonProcess(configPath: path, directory: directory, environment: ["WATCHDOG_USEC": "400000"])
        daemons.append(daemon)
        try daemon.waitReady()
        let start = Date()
        var pings = 0
        while pings < 3, Date().timeIntervalSince(start) < 5 {
            pings += daemon.notifications(timeout: 0.5).filter { $0 == "WATCHDOG=1" }.count
        }
        XCTAssertGreaterThanOrEqual(pings, 3, "expected a WATCHDOG=1 about every 0.2 s")
    }

    func testSocketActivationUsesPassedSockets() throws {
        let tcpPort = freePort(), udpPort = freePort()
        let tcp = try Socket(family: .inet, type: .stream)
        try tcp.setOption(.reuseAddress, true)
        try tcp.bind(.inet(host: "127.0.0.1", port: UInt16(tcpPort)))
        try tcp.listen(16)
        let udp = try Socket(family: .inet, type: .datagram)
        try udp.bind(.inet(host: "127.0.0.1", port: UInt16(udpPort)))
        let path = writeConfig("""
            [service web]
            listen = tcp://127.0.0.1:\(tcpPort)
            handler = upper
            workers = 1

            [service dgram]
            listen = udp://127.0.0.1:\(udpPort)
            handler = echo
            workers = 1
            """, to: configDirectory + "/socketserverd.conf")
        let daemon = try DaemonProcess(configPath: path, directory: directory, environment: ["LISTEN_FDNAMES": "web:dgram"],
                                       passing: [tcp.fileno(), udp.fileno()])
        daemons.append(daemon)
        try daemon.waitReady()
        XCTAssertEqual(try tcpRoundTrip(port: tcpPort, "activated\n"), "ACTIVATED\n")
        XCTAssertEqual(try datagramRoundTrip(.inet(host: "127.0.0.1", port: UInt16(udpPort)), "dgram"), "dgram")
        XCTAssertEqual(daemon.log.components(separatedBy: "passed by systemd").count - 1, 2, daemon.log)
        // No rebinding: the test's own socket is the daemon's listener (a second bind would have failed).
        XCTAssertFalse(daemon.log.contains("bind"), daemon.log)
        daemon.stop()
        // The test's descriptors still refer to the same listening socket.
        XCTAssertEqual(try tcp.getOption(.acceptConnections), 1)
    }

    func testPassedSocketMatchingNoServiceIsAnError() throws {
        let port = freePort(), other = freePort()
        let stray = try Socket(family: .inet, type: .stream)
        try stray.bind(.inet(host: "127.0.0.1", port: UInt16(other)))
        try stray.listen(4)
        let path = writeConfig("[service a]\nlisten = tcp://127.0.0.1:\(port)\nhandler = echo\n", to: configDirectory + "/socketserverd.conf")
        let daemon = try DaemonProcess(configPath: path, directory: directory, environment: ["LISTEN_FDNAMES": "stray"],
                                       passing: [stray.fileno()])
        daemons.append(daemon)
        let status = daemon.waitExit()
        XCTAssertNotNil(status)
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(daemon.log.contains("match no service") && daemon.log.contains("127.0.0.1:\(other)") && daemon.log.contains("stray"),
                      daemon.log)
    }
}
