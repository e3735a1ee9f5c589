// What a worker counts into its service's shared memory, read back here (status and /metrics read
// the same memory): a worker's servers run in this process on a loopback port, with real clients.
import Glibc
import SocketServer
import SocketServerTestSupport
@testable import SocketServerDaemon
import XCTest

final class ServiceCountingTests: XCTestCase {
    /// A worker's server for `service` (its listener bound here), its counters and its board.
    struct Running {
        let server: BaseServer
        let policy: ServicePolicy
        let port: Int
        let thread: PosixThread

        var counters: ServiceCounters { policy.counters! }
        var scoreboard: Scoreboard { policy.scoreboard! }
        var slot: Int { policy.slot }

        func stop() {
            server.shutdown()
            thread.join()
            server.serverClose()
            scoreboard.releaseSlot(slot)
        }
    }

    func start(_ configure: (inout ServiceConfig) -> Void, datagram: Bool = false) throws -> Running {
        let socket = try Socket(family: .inet, type: datagram ? .datagram : .stream)
        try socket.bind(.inet(host: "127.0.0.1", port: 0))
        if !datagram { try socket.listen() }
        let address = try socket.getSockName()
        var service = ServiceConfig(name: "counted", listen: datagram ? .udp(address) : .tcp(address), handler: "echo",
                                    workers: 1, location: SourceLocation(file: "test.conf", line: 1))
        configure(&service)
        let counters = try XCTUnwrap(ServiceCounters.create(service: service.name))
        let scoreboard = Scoreboard()
        let slot = try XCTUnwrap(scoreboard.claimSlot(entries: Arbiter.requestsAtOnce(service),
                                                      connections: Arbiter.connectionsAtOnce(service)))
        let policy = ServicePolicy(service: service, scoreboard: scoreboard, slot: slot, counters: counters)
        let descriptor = try XCTUnwrap(DaemonCatalog().descriptor(named: "echo"))
        let server = try WorkerProcess.makeServer(service: service, socket: socket, descriptor: descriptor, policy: policy)
        let thread = try PosixThread.start { try? server.serveForever(pollInterval: .milliseconds(50)) }
        guard case .inet(_, let port) = address else { throw TestFailure.setup("no port") }
        return Running(server: server, policy: policy, port: Int(port), thread: thread)
    }

    /// Waits until every connection the clients closed has ended in the server.
    func waitIdle(_ running: Running, served: Int64, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(eventually(within: .seconds(10)) {
            running.counters[.served] == served && running.counters[.active] == 0
        }, "served \(running.counters[.served]), active \(running.counters[.active])", file: file, line: line)
    }

    func testServedConnectionsAreCountedWithTheirBytesAndDurations() throws {
        for concurrency in [ConcurrencyKind.sync, .threads, .events] {
            let running = try start { $0.concurrency = concurrency }
            defer { running.stop() }
            var bytes: Int64 = 0
            for size in [5, 50, 500] {
                let message = String(repeating: "b", count: size - 1) + "\n"
                XCTAssertEqual(try tcpRoundTrip(port: running.port, message), message)
                bytes += Int64(size)
            }
            waitIdle(running, served: 3)
            let counters = running.counters
            XCTAssertEqual(counters[.connections], 3, "\(concurrency)")
            XCTAssertEqual(counters[.receivedBytes], bytes, "\(concurrency)")
            XCTAssertEqual(counters[.sentBytes], bytes, "\(concurrency)")
            XCTAssertEqual(counters[.durationCount], 3, "\(concurrency)")
            XCTAssertEqual(counters.cumulativeBuckets().last, 3, "\(concurrency)")
            XCTAssertEqual(running.scoreboard.counts(in: running.slot).requests, 3, "\(concurrency): the worker's own count")
            XCTAssertEqual(running.scoreboard.counts(in: running.slot).active, 0, "\(concurrency)")
        }
    }

    func testOpenConnectionsAreActiveUntilTheyEnd() throws {
        for concurrency in [ConcurrencyKind.threads, .events] {
            let running = try start { $0.concurrency = concurrency }
            defer { running.stop() }
            let held = try (0..<3).map { _ in try heldEcho(port: running.port) }
            XCTAssertEqual(running.counters[.active], 3, "\(concurrency)")
            XCTAssertEqual(running.scoreboard.counts(in: running.slot).active, 3, "\(concurrency): the worker's open connections")
            XCTAssertEqual(running.counters[.connections], 3, "\(concurrency)")
            XCTAssertEqual(running.counters[.served], 0, "\(concurrency): not handled to the end yet")
            held.forEach { $0.close() }
            waitIdle(running, served: 3)
        }
    }

    func testARefusalCountsOnlyAsARefusal() throws {
        let running = try start {
            $0.perSource = 1
            $0.deny = [AddressRange("127.0.0.3")!]
            $0.allow = [AddressRange("127.0.0.0/30")!]
        }
        defer { running.stop() }
        let held = try heldEcho(port: running.port)
        for source in ["127.0.0.1", "127.0.0.3", "127.0.0.4"] {
            let refused = try connectTCP(port: running.port, from: source)
            XCTAssertTrue(wasRefused(refused), source)
            refused.close()
        }
        held.close()
        waitIdle(running, served: 1)
        let counters = running.counters
        XCTAssertEqual(RefusalReason.allCases.map { "\($0.rawValue)=\(counters.refusals($0))" },
                       ["allow=1", "deny=1", "per_source=1", "max_connections=0", "rate=0", "full=0"])
        XCTAssertEqual(counters[.connections], 1, "refusals are not connections")
        XCTAssertEqual(counters[.durationCount], 1, "nor in the histogram")
        XCTAssertEqual(counters.openFromSource(ServiceCounters.sourceKey(.inet(host: "127.0.0.1", port: 0))!), 0,
                       "the client's count is back to 0")
    }

    func testAFullEventLoopRefusesAsFull() throws {
        let running = try start {
            $0.concurrency = .events
            $0.threads = 1  // 32 connections at once
        }
        defer { running.stop() }
        let held = try (0..<32).map { _ in try heldEcho(port: running.port) }
        let extra = try connectTCP(port: running.port)
        XCTAssertTrue(wasRefused(extra))
        extra.close()
        XCTAssertTrue(eventually { running.counters.refusals(.full) == 1 })
        XCTAssertEqual(running.counters[.connections], 32, "the refused one is not a connection")
        held.forEach { $0.close() }
        waitIdle(running, served: 32)
        XCTAssertEqual(running.scoreboard.counts(in: running.slot).active, 0)
    }

    func testDatagramsCountTheirOwnRepliesUnderThreads() throws {
        let running = try start({ $0.concurrency = .threads }, datagram: true)
        defer { running.stop() }
        let client = try udpClient()
        defer { client.close() }
        var bytes: Int64 = 0
        for size in [3, 30, 300] {
            try client.sendTo([UInt8](repeating: 0x61, count: size), .inet(host: "127.0.0.1", port: running.port))
            XCTAssertEqual(try client.recvFrom(1000).0.count, size)
            bytes += Int64(size)
        }
        waitIdle(running, served: 3)
        XCTAssertEqual(running.counters[.connections], 3, "datagrams handled")
        XCTAssertEqual(running.counters[.receivedBytes], bytes)
        XCTAssertEqual(running.counters[.sentBytes], bytes)
    }
}
