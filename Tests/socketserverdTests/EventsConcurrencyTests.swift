// concurrency = events: one worker with one event-loop thread serves hundreds of persistent
// clients at once; handlers without an event-driven variant are refused at the concurrency line.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class EventsConcurrencyTests: DaemonTestCase {
    /// Reads exactly `count` bytes, as text.
    private func receive(_ socket: Socket, _ count: Int) throws -> String {
        String(decoding: try readExactly(socket, count), as: UTF8.self)
    }

    /// An events echo service with a long idle timeout.
    private let eventsEcho = Service("echo", ["workers": 1, "concurrency": "events", "timeout": 60])

    func testOneEventWorkerServesThreeHundredPersistentClients() throws {
        let daemon = try startDaemon(service: eventsEcho, Service("upper", ["workers": 1, "concurrency": "events"]))
        var clients: [Socket] = []
        defer { for client in clients { client.close() } }
        for _ in 0..<300 { clients.append(try connectTCP(port: daemon.port("echo"))) }
        // All 300 stay connected; in each round every one of them has a request outstanding.
        for round in 0..<3 {
            for (index, client) in clients.enumerated() { try client.sendAll("client \(index) round \(round)\n") }
            for (index, client) in clients.enumerated() {
                let expected = "client \(index) round \(round)\n"
                XCTAssertEqual(try receive(client, expected.utf8.count), expected)
            }
        }
        XCTAssertEqual(try tcpRoundTrip(port: daemon.port("upper"), "mixed Case\n"), "MIXED CASE\n")
        // Two workers (one per service), each with a handful of threads, not one per client.
        let workers = daemon.workerPIDs()
        XCTAssertEqual(workers.count, 2)
        for worker in workers {
            let count = processStatus(worker)["Threads"].flatMap { Int($0) }
            XCTAssertNotNil(count)
            XCTAssertLessThan(count ?? .max, 10, "worker \(worker) has \(count ?? 0) threads")
        }
        for client in clients { try client.shutdown(.write) }
        for client in clients { XCTAssertEqual(try client.recv(16), []) }
    }

    /// Connects `count` clients, each sends a line; returns (echoed, closed unserved, left hanging).
    private func connectAndSend(port: Int, count: Int) throws -> (served: Int, refused: Int, hanging: Int, clients: [Socket]) {
        var clients: [Socket] = []
        for _ in 0..<count { clients.append(try connectTCP(port: port)) }
        var served = 0, refused = 0, hanging = 0
        for (index, client) in clients.enumerated() {
            let line = "client \(index)\n"
            try? client.sendAll(line)  // a refused one may already be reset
            do {
                let reply = try receive(client, line.utf8.count)
                if reply == line { served += 1 } else { refused += 1 }  // end of file: closed unserved
            } catch SocketError.timeout {
                hanging += 1
            } catch {
                refused += 1  // reset: closed unserved
            }
        }
        return (served, refused, hanging, clients)
    }

    /// Under a descriptor limit of 256 the events cap (1024 by default) is lowered to 256 - 64 and
    /// logged; the clients past it are closed unserved instead of hanging in the backlog while
    /// accept fails with EMFILE.
    func testEventsCapStaysBelowTheDescriptorLimit() throws {
        let daemon = try startDaemon(service: eventsEcho, wrapper: "ulimit -n 256;")
        XCTAssertTrue(daemon.waitForLog("events connections capped at 192, not 1024"), daemon.log)
        let result = try connectAndSend(port: daemon.port, count: 400)
        defer { for client in result.clients { client.close() } }
        XCTAssertEqual(result.hanging, 0, daemon.log)
        XCTAssertEqual(result.served, 192)
        XCTAssertEqual(result.refused, 208)
        XCTAssertFalse(daemon.log.contains("cannot accept"), daemon.log)
        // One warning for the burst of refusals, not one error per connection.
        let lines = daemon.log.split(separator: "\n").filter { $0.contains("event loop is full") }
        XCTAssertEqual(lines.count, 1, daemon.log)
        XCTAssertTrue(lines.first?.contains("warning") ?? false, daemon.log)
    }

    /// An events worker raises its soft descriptor limit to the hard one: a soft limit of 128
    /// does not keep it from serving 300 clients. Other workers keep the limit they were given:
    /// an exec'd program (which may use select, or close every fd up to the limit) sees 128.
    func testEventsWorkerRaisesTheSoftDescriptorLimitOthersDoNot() throws {
        let daemon = try startDaemon(service: eventsEcho, Service("limit", handler: "exec", ["command": "/bin/sh -c 'ulimit -Sn'", "workers": 1]),
                                     wrapper: "ulimit -Hn 4096; ulimit -Sn 128;")
        let result = try connectAndSend(port: daemon.port("echo"), count: 300)
        defer { for client in result.clients { client.close() } }
        XCTAssertEqual(result.served, 300, daemon.log)
        XCTAssertFalse(daemon.log.contains("capped"), daemon.log)
        let program = try connectTCP(port: daemon.port("limit"))
        defer { program.close() }
        try program.shutdown(.write)
        XCTAssertEqual(try receive(program, 16), "128\n", daemon.log)
    }

    /// TERM with events connections open: a request sent right after it gets its whole reply or
    /// none (never a cut one or a reset), then every client reads end of file, even one that never
    /// stops sending; the daemon exits 0 long before graceful_timeout (60 s).
    func testTermEndsOpenEventsConnectionsAndExitsCleanly() throws {
        let daemon = try startDaemon(service: Service("echo", ["workers": 1, "concurrency": "events"]), daemon: ["graceful_timeout": 60])
        let clients = try (0..<20).map { _ in try connectTCP(port: daemon.port) }
        defer { for client in clients { client.close() } }
        for client in clients {
            try client.sendAll("hello\n")
            XCTAssertEqual(try receive(client, 6), "hello\n")
        }
        let chatty = clients[0]
        XCTAssertTrue(daemon.beginGracefulStop().last?.contains("STOPPING=1") == true, daemon.log)
        XCTAssertTrue(daemon.log.contains("graceful stop"), daemon.log)
        for client in clients.dropFirst() {
            try client.sendAll("late\n")
            let reply = try receive(client, 5)
            XCTAssertTrue(reply == "late\n" || reply == "", "cut reply: \(reply.debugDescription)")
            XCTAssertEqual(try client.recv(16), [])
            client.close()
        }
        // The chatty client goes on until the worker ends it; every reply it got is whole.
        var replies = 0
        while true {
            try chatty.sendAll("ping\n")
            let reply = try receive(chatty, 5)
            if reply.isEmpty { break }
            XCTAssertEqual(reply, "ping\n")
            replies += 1
        }
        chatty.close()
        XCTAssertEqual(daemon.waitExit(), 0, daemon.log)
        XCTAssertFalse(daemon.log.contains("error"), daemon.log)
    }

    func testCheckConfigRefusesAHandlerWithoutAnEventDrivenVariant() throws {
        let result = try checkConfig("""
            [service files]
            listen = tcp://127.0.0.1:7013
            handler = upload
            concurrency = events
            directory = \(directory)
            """, name: "events.conf")
        let text = result.output
        XCTAssertEqual(result.status, 1, text)
        XCTAssertTrue(text.contains("events.conf:4: handler 'upload' does not support concurrency 'events' "
            + "(it supports sync, threads and fork); handlers that do: echo, discard, daytime, upper"), text)
    }

    /// daytime speaks first: each client gets the RFC 867 line and end of file without sending
    /// anything, 50 of them at once from one events worker.
    func testDaytimeOverEventsSpeaksFirstAndEnds() throws {
        let port = try startDaemon(service: Service("daytime", ["workers": 1, "concurrency": "events"])).port
        let clients = try (0..<50).map { _ in try connectTCP(port: port) }
        defer { for client in clients { client.close() } }
        let year = Calendar(identifier: .gregorian).component(.year, from: Date())
        for client in clients {
            let line = try readAllText(client)
            XCTAssertTrue(line.hasSuffix("\r\n") && line.contains(", \(year) "), line.debugDescription)
            XCTAssertEqual(line.filter { $0 == "\r\n" }.count, 1, line.debugDescription)
        }
    }
}
