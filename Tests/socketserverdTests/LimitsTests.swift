// The limits a service puts on its clients, with real clients: per_source, max_connections, rate
// and deny hold across the workers of a service (shared memory), a refused connection is closed
// unread and named in the access log with its reason, and what a dead process held is given back.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class LimitsTests: DaemonTestCase {
    var accessLog: String { directory + "/access.log" }

    /// The access log's lines for `service` that say `result`.
    func lines(_ service: String, _ result: String) -> [AccessLogLine] {
        accessLogLines(accessLog).filter { $0.service == service && $0.result == result }
    }

    /// Connects from `source` and expects the connection to be refused (closed without a byte).
    func assertRefused(port: Int, from source: String = "127.0.0.1", _ message: String,
                       file: StaticString = #filePath, line: UInt = #line) throws -> Int {
        let socket = try connectTCP(port: port, from: source)
        defer { socket.close() }
        XCTAssertTrue(wasRefused(socket), message, file: file, line: line)
        return try localPort(socket)
    }

    func testPerSourceRefusesTheFourthConnectionFromOneAddressUnderEveryConcurrency() throws {
        let models = ["threads", "fork", "events"]
        let daemon = try startDaemon(service: Service("threads", handler: "echo", ["workers": 2, "per_source": 3]),
                                     Service("fork", handler: "echo", ["workers": 2, "per_source": 3, "concurrency": "fork"]),
                                     Service("events", handler: "echo", ["workers": 2, "per_source": 3, "concurrency": "events"]),
                                     daemon: ["access_log": accessLog])
        for model in models {
            let port = daemon.port(model)
            var held = try (0..<3).map { _ in try heldEcho(port: port) }
            defer { held.forEach { $0.close() } }
            // Whichever worker takes it, the count is the service's: try a few times.
            var refusedPorts: [Int] = []
            for _ in 0..<4 { refusedPorts.append(try assertRefused(port: port, "\(model): a 4th connection from 127.0.0.1 was served")) }
            let other = try heldEcho(port: port, from: "127.0.0.2")
            other.close()
            // Once one of the three ends, 127.0.0.1 may connect again.
            held.removeFirst().close()
            XCTAssertTrue(eventually(within: .seconds(10)) {
                guard let socket = try? connectTCP(port: port) else { return false }
                defer { socket.close() }
                return (try? ask(socket, "again\n")) == "again\n"
            }, "\(model): a closed connection did not make room")
            let refused = waitForAccessLines(accessLog, clientPorts: refusedPorts)
            XCTAssertEqual(refused.values.map(\.result), Array(repeating: "refused:per_source", count: 4), "\(model): \(readText(accessLog))")
            XCTAssertEqual(refused.values.map(\.bytesIn), [0, 0, 0, 0], "closed without being read")
        }
        XCTAssertTrue(daemon.waitForLog("service threads: refused 127.0.0.1:"), daemon.log)
    }

    func testMaxConnectionsCountsTheWholeServiceWhateverTheClient() throws {
        let socketPath = directory + "/unix.sock"
        let daemon = try startDaemon(service: Service("tcp", handler: "echo", ["workers": 2, "max_connections": 2]),
                                     Service("unix", handler: "echo", listen: .address("unix:" + socketPath),
                                             ["workers": 2, "max_connections": 1, "socket_mode": "0666"]),
                                     daemon: ["access_log": accessLog])
        let port = daemon.port("tcp")
        let first = try heldEcho(port: port)
        let second = try heldEcho(port: port, from: "127.0.0.2")
        let refused = [try assertRefused(port: port, "a third connection to the service was served"),
                       try assertRefused(port: port, from: "127.0.0.3", "a third connection from another client was served")]
        first.close()
        second.close()
        XCTAssertTrue(eventually(within: .seconds(10)) { (try? tcpRoundTrip(port: port)) == "hello\n" })
        XCTAssertEqual(waitForAccessLines(accessLog, clientPorts: refused).values.map(\.result),
                       ["refused:max_connections", "refused:max_connections"], readText(accessLog))

        let unix = try connectClient(.unix(path: socketPath))
        XCTAssertEqual(try ask(unix, "unix\n"), "unix\n")
        let extra = try connectClient(.unix(path: socketPath))
        XCTAssertTrue(wasRefused(extra), "a second unix connection was served")
        extra.close()
        unix.close()
        XCTAssertTrue(eventually(within: .seconds(10)) { (try? streamExchange(.unix(path: socketPath), "again\n")) == "again\n" })
        XCTAssertTrue(eventually { !lines("unix", "refused:max_connections").isEmpty }, readText(accessLog))
    }

    func testRateAllowsABurstPerClientAndRefusesWithoutTakingATokenOfAnotherClient() throws {
        let daemon = try startDaemon(service: Service("tcp", handler: "echo", ["workers": 2, "rate": "3/m"]),
                                     Service("udp", handler: "echo", listen: .udp, ["workers": 2, "rate": "2/m"]),
                                     daemon: ["access_log": accessLog])
        let port = daemon.port("tcp")
        for index in 0..<3 { XCTAssertEqual(try tcpRoundTrip(port: port, "burst \(index)\n"), "burst \(index)\n") }
        let refused = try assertRefused(port: port, "a 4th new connection within a minute was served")
        XCTAssertEqual(waitForAccessLines(accessLog, clientPorts: [refused])[refused]?.result, "refused:rate")
        let other = try heldEcho(port: port, from: "127.0.0.2")
        other.close()

        let udp = daemon.port("udp")
        let client = try udpClient()
        defer { client.close() }
        let server = SocketAddress.inet(host: "127.0.0.1", port: udp)
        for index in 0..<2 {
            try client.sendTo(Array("datagram \(index)".utf8), server)
            XCTAssertEqual(String(decoding: try client.recvFrom(100).0, as: UTF8.self), "datagram \(index)")
        }
        try client.sendTo(Array("one too many".utf8), server)
        XCTAssertEqual(waitForAccessLines(accessLog, clientPorts: [try localPort(client)]).count, 1)
        XCTAssertTrue(eventually { lines("udp", "refused:rate").count == 1 }, readText(accessLog))
        XCTAssertEqual(lines("udp", "refused:rate").first?.bytesIn, 12, "the dropped datagram's size")
        let elsewhere = try Socket(family: .inet, type: .datagram)
        defer { elsewhere.close() }
        try elsewhere.setTimeout(ioTimeout)
        try elsewhere.bind(.inet(host: "127.0.0.2", port: 0))
        try elsewhere.sendTo(Array("from .2".utf8), server)
        XCTAssertEqual(String(decoding: try elsewhere.recvFrom(100).0, as: UTF8.self), "from .2", "another client has its own bucket")
    }

    func testDenyIsConsultedBeforeAllow() throws {
        let daemon = try startDaemon(service: Service("tcp", handler: "echo", ["workers": 2, "allow": "127.0.0.0/8", "deny": "127.0.0.2"]),
                                     Service("udp", handler: "echo", listen: .udp, ["workers": 1, "deny": "127.0.0.1"]),
                                     daemon: ["access_log": accessLog])
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("tcp")), "hello\n")
        let refused = try assertRefused(port: daemon.port("tcp"), from: "127.0.0.2", "a denied client was served")
        XCTAssertEqual(waitForAccessLines(accessLog, clientPorts: [refused])[refused]?.result, "refused:deny", "deny names the reason, not allow")
        XCTAssertTrue(daemon.waitForLog("service tcp: refused 127.0.0.2:"), daemon.log)

        let client = try udpClient()
        defer { client.close() }
        try client.sendTo(Array("denied".utf8), .inet(host: "127.0.0.1", port: daemon.port("udp")))
        XCTAssertEqual(waitForAccessLines(accessLog, clientPorts: [try localPort(client)]).first?.value.result, "refused:deny")
    }

    func testAKilledWorkersConnectionsAreGivenBack() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1, "per_source": 2]), daemon: ["access_log": accessLog])
        let held = try (0..<2).map { _ in try heldEcho(port: daemon.port) }
        defer { held.forEach { $0.close() } }
        _ = try assertRefused(port: daemon.port, "a third connection was served")
        let worker = try XCTUnwrap(daemon.workerPIDs().first)
        kill(worker, SIGKILL)
        XCTAssertTrue(daemon.waitForLog("worker \(worker) (service echo) was killed by SIGKILL"), daemon.log)
        // The master gave the dead worker's two connections back: the client may open two again.
        let again = try (0..<2).map { _ in try heldEcho(port: daemon.port) }
        again.forEach { $0.close() }
        let killed = waitForAccessLines(accessLog, clientPorts: try held.map(localPort))
        XCTAssertEqual(killed.values.map(\.result), ["killed", "killed"], readText(accessLog))
        XCTAssertEqual(Set(killed.values.compactMap(\.worker)), [worker], "the dead worker is named")
    }

    func testAKilledRequestChildsConnectionIsGivenBack() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1, "per_source": 1, "concurrency": "fork"]),
                                     daemon: ["access_log": accessLog])
        let held = try heldEcho(port: daemon.port)
        defer { held.close() }
        let worker = try XCTUnwrap(daemon.workerPIDs().first)
        let child = try XCTUnwrap(childPIDs(of: worker).first, "the request child")
        kill(child, SIGKILL)
        XCTAssertTrue(wasRefused(held), "the connection ended with its child")
        XCTAssertTrue(eventually(within: .seconds(10)) {
            guard let socket = try? connectTCP(port: daemon.port) else { return false }
            defer { socket.close() }
            return (try? ask(socket, "again\n")) == "again\n"
        }, "the dead child's connection still counts toward per_source:\n\(readText(accessLog))")
        let port = try localPort(held)
        XCTAssertEqual(waitForAccessLines(accessLog, clientPorts: [port])[port]?.result, "killed", readText(accessLog))
        XCTAssertEqual(waitForAccessLines(accessLog, clientPorts: [port])[port]?.worker, worker, "the line names the worker")
    }

    func testBadLimitsAreCheckConfigErrorsAtTheirLine() throws {
        let services = [Service("a", handler: "echo", listen: .address("tcp://127.0.0.1:7000"), ["rate": "5/h"]),
                        Service("b", handler: "echo", listen: .address("udp://127.0.0.1:7001"), ["per_source": 3, "max_connections": 10]),
                        Service("c", handler: "echo", listen: .address("unix:/run/c.sock"), ["rate": "5/s"])]
        let result = try checkConfig(try DaemonConfigBuilder(services: services).text(ports: [:]))
        XCTAssertEqual(result.status, 1, result.stderr)
        let path = configDirectory + "/check.conf"
        for expected in ["\(path):4: rate must be N/s or N/m with N from 1 to 1000000, got '5/h'",
                         "\(path):9: per_source applies only to tcp:// listeners",
                         "\(path):10: max_connections applies only to tcp:// and unix: listeners",
                         "\(path):15: rate applies only to tcp:// and udp:// listeners"] {
            XCTAssertTrue(result.stderr.contains(expected), "missing \(expected):\n\(result.stderr)")
        }
    }
}
