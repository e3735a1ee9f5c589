// Every listener kind the config offers, served by the real daemon to real clients.
import Foundation
import SocketServer
import XCTest

final class ListenerKindTests: DaemonTestCase {
    func testEchoOverEveryListenerKind() throws {
        let tcp = freePort(), udp = freePort(), tcp6 = freePort()
        let has6 = (try? Socket(family: .inet6, type: .stream).bind(.inet6(host: "::1", port: 0))) != nil
        let stream = directory + "/echo.sock", gram = directory + "/echo.dgram"
        var config = """
            [daemon]
            log_level = info
            graceful_timeout = 5

            [service tcp]
            listen = tcp://127.0.0.1:\(tcp)
            handler = echo
            workers = 1

            [service udp]
            listen = udp://127.0.0.1:\(udp)
            handler = echo
            workers = 1
            concurrency = sync

            [service unix]
            listen = unix:\(stream)
            handler = echo
            workers = 1
            concurrency = fork

            [service unixgram]
            listen = unixgram:\(gram)
            handler = echo
            workers = 1

            """
        if has6 {
            config += """
                [service tcp6]
                listen = tcp://[::1]:\(tcp6)
                handler = upper
                workers = 1

                """
        }
        let daemon = try startDaemon(config)

        XCTAssertEqual(try tcpRoundTrip(port: tcp, "over tcp\n"), "over tcp\n")
        XCTAssertEqual(try datagramRoundTrip(.inet(host: "127.0.0.1", port: UInt16(udp)), "over udp"), "over udp")
        let unix = try createConnection(to: .unix(path: stream), timeout: .seconds(5))
        try unix.sendAll("over unix")
        XCTAssertEqual(String(decoding: try unix.recv(100), as: UTF8.self), "over unix")
        unix.close()
        XCTAssertEqual(try datagramRoundTrip(.unix(path: gram), "over unixgram", local: .unix(path: directory + "/client.dgram")),
                       "over unixgram")
        if has6 {
            XCTAssertEqual(try tcpRoundTrip(port: tcp6, "over v6\n", host: "::1"), "OVER V6\n")
        }

        // A graceful stop removes the Unix socket files it created.
        daemon.signal(SIGTERM)
        let status = daemon.waitExit()
        XCTAssertEqual(status, 0, daemon.log)
        XCTAssertFalse(FileManager.default.fileExists(atPath: stream))
        XCTAssertFalse(FileManager.default.fileExists(atPath: gram))
    }

    func testDaytimeAnswersOneLineAndCloses() throws {
        let port = freePort()
        _ = try startDaemon("""
            [service daytime]
            listen = tcp://127.0.0.1:\(port)
            handler = daytime
            workers = 1
            """)
        let socket = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(5))
        let line = String(decoding: try readAll(socket), as: UTF8.self)
        XCTAssertTrue(line.hasSuffix("\r\n") || line.hasSuffix("\n"), line)
        XCTAssertTrue(line.contains(String(Calendar(identifier: .gregorian).component(.year, from: Date()))), line)
    }

    func testWorkersShareOneSocket() throws {
        let port = freePort()
        let daemon = try startDaemon("""
            [daemon]
            log_level = debug

            [service echo]
            listen = tcp://127.0.0.1:\(port)
            handler = echo
            workers = 3
            concurrency = sync
            """)
        XCTAssertTrue(daemon.waitForLog("serving tcp://", count: 3), daemon.log)
        var servedBy: Set<String> = []
        for attempt in 0..<300 where servedBy.count < 2 {
            XCTAssertEqual(try tcpRoundTrip(port: port, "ping \(attempt)\n"), "ping \(attempt)\n")
            servedBy = Set(daemon.log.split(separator: "\n").filter { $0.contains("serving 127.0.0.1:") }
                .compactMap { $0.split(separator: "worker ").last?.split(separator: " ").first.map(String.init) })
        }
        XCTAssertGreaterThanOrEqual(servedBy.count, 2, "requests served by \(servedBy) only:\n\(daemon.log)")
    }
}
