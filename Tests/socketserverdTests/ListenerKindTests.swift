// Every listener kind the config offers, served by the real daemon to real clients.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class ListenerKindTests: DaemonTestCase {
    func testEchoOverEveryListenerKind() throws {
        let has6 = hasIPv6Loopback
        let stream = directory + "/echo.sock", gram = directory + "/echo.dgram"
        // TCP and UDP sockets are the test's, passed; the Unix ones the daemon binds (and removes).
        var config = DaemonConfigBuilder(daemon: ["log_level": "info", "graceful_timeout": 5], services: [
            Service("tcp", handler: "echo", ["workers": 1]),
            Service("udp", handler: "echo", listen: .udp, ["workers": 1, "concurrency": "sync"]),
            Service("unix", handler: "echo", listen: .address("unix:\(stream)"), ["workers": 1, "concurrency": "fork"]),
            Service("unixgram", handler: "echo", listen: .address("unixgram:\(gram)"), ["workers": 1]),
        ])
        if has6 { config.services.append(Service("tcp6", handler: "upper", listen: .tcp6, ["workers": 1])) }
        let daemon = try startDaemon(config)

        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("tcp"), "over tcp\n"), "over tcp\n")
        XCTAssertEqual(try udpRoundTrip(port: daemon.port("udp"), "over udp"), "over udp")
        XCTAssertEqual(try streamExchange(.unix(path: stream), "over unix"), "over unix")
        XCTAssertEqual(try datagramExchange(.unix(path: gram), "over unixgram", clientPath: directory + "/client.dgram"), "over unixgram")
        if has6 {
            XCTAssertEqual(try tcpRoundTrip(port: daemon.port("tcp6"), "over v6\n", host: "::1"), "OVER V6\n")
        }

        // A graceful stop removes the Unix socket files it created.
        daemon.signal(SIGTERM)
        let status = daemon.waitExit()
        XCTAssertEqual(status, 0, daemon.log)
        XCTAssertFalse(fileExists(stream))
        XCTAssertFalse(fileExists(gram))
    }

    func testDaytimeAnswersOneLineAndCloses() throws {
        let daemon = try startDaemon(service: Service("daytime", ["workers": 1]))
        let line = try readAllText(try connectTCP(port: daemon.port))
        XCTAssertTrue(line.hasSuffix("\r\n") || line.hasSuffix("\n"), line)
        XCTAssertTrue(line.contains(String(Calendar(identifier: .gregorian).component(.year, from: Date()))), line)
    }

    func testWorkersShareOneSocket() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 3, "concurrency": "sync"]), daemon: ["log_level": "debug"])
        XCTAssertTrue(daemon.waitForLog("serving tcp://", count: 3), daemon.log)
        var servedBy: Set<String> = []
        for attempt in 0..<300 where servedBy.count < 2 {
            XCTAssertEqual(try tcpRoundTrip(port: daemon.port, "ping \(attempt)\n"), "ping \(attempt)\n")
            servedBy = Set(daemon.log.split(separator: "\n").filter { $0.contains("serving 127.0.0.1:") }
                .compactMap { $0.split(separator: "worker ").last?.split(separator: " ").first.map(String.init) })
        }
        XCTAssertGreaterThanOrEqual(servedBy.count, 2, "requests served by \(servedBy) only:\n\(daemon.log)")
    }
}
