// Event-driven plugin handlers (plugin ABI 1.1) served by the real daemon: many persistent
// connections through one worker's event loop, per-connection state, open/close, failures and
// crashes as for blocking handlers, and the blocking adapter under threads.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class PluginEventTests: PluginTestCase {
    /// ctest.tally under events in one worker, greeting with `greeting` ("" says nothing).
    private func tally(greeting: String = "") -> DaemonConfigBuilder {
        greeting.isEmpty ? ctestConfig("tally", ["workers": 1, "concurrency": "events", "timeout": 60])
            : ctestConfig("tally", ["workers": 1, "concurrency": "events", "timeout": 60, "greeting": greeting])
    }

    func testOneWorkerServesFiveHundredPersistentConnectionsThroughAnEventPlugin() throws {
        try compileCPlugin()
        let daemon = try startDaemon(tally(greeting: "hi"))
        var clients: [Socket] = []
        defer { for client in clients { client.close() } }
        for _ in 0..<500 { clients.append(try connectTCP(port: daemon.port)) }
        // open: each connection is greeted before it sends anything.
        for client in clients { XCTAssertEqual(try readLine(client), "hi\n") }
        // All 500 stay open with a request outstanding in each round; each counts its own lines.
        for round in 1...3 {
            for (index, client) in clients.enumerated() { try client.sendAll("client \(index) round \(round)\n") }
            for (index, client) in clients.enumerated() {
                XCTAssertEqual(try readLine(client), "v1 \(round): CLIENT \(index) ROUND \(round)\n")
            }
        }
        // One worker with a handful of threads, not one per client.
        let workers = daemon.workerPIDs()
        XCTAssertEqual(workers.count, 1)
        let threads = workers.first.flatMap { processStatus($0)["Threads"] }.flatMap { Int($0) }
        XCTAssertLessThan(threads ?? .max, 10, "the worker has \(threads ?? 0) threads")
        // SSD_END: the reply goes out, then the daemon closes.
        let last = clients.removeLast()
        defer { last.close() }
        XCTAssertEqual(try ask(last, "end\n"), "bye\n")
        XCTAssertEqual(try readAll(last), [])
        // close runs once per connection, whoever ended it.
        for client in clients { try client.shutdown(.write) }
        for client in clients { XCTAssertEqual(try readAll(client), []) }
        XCTAssertTrue(daemon.waitForLog("tally: closed after 3 lines", count: 500), daemon.log)
        XCTAssertNil(daemon.reapIfExited())
    }

    func testAFailingEventCallbackFailsItsConnectionOnlyAndACrashCostsItsWorker() throws {
        try compileCPlugin()
        let daemon = try startDaemon(tally())
        let bystander = try connectTCP(port: daemon.port)
        defer { bystander.close() }
        XCTAssertEqual(try ask(bystander, "one\n"), "v1 1: ONE\n")

        // A status other than SSD_OK/SSD_END: the reply pending with it is dropped, the error logged.
        let failing = try connectTCP(port: daemon.port)
        defer { failing.close() }
        try failing.sendAll("two\nfail\n")
        XCTAssertEqual(try readAll(failing), [])
        XCTAssertTrue(daemon.waitForLog("plugin handler ctest.tally returned status 7"), daemon.log)
        XCTAssertTrue(daemon.waitForLog("tally: closed after 1 lines"), daemon.log)
        XCTAssertEqual(try ask(bystander, "three\n"), "v1 2: THREE\n", "the other connection goes on")

        // A crash in a callback ends the worker; the master starts another, which serves.
        let before = Set(daemon.workerPIDs())
        XCTAssertEqual((try? ask(port: daemon.port, "segfault\n")) ?? "", "", "a crashed worker sends no reply")
        XCTAssertTrue(daemon.waitForLog("was killed by SIGSEGV"), daemon.log)
        XCTAssertTrue(eventually(within: .seconds(15)) { (try? ask(port: daemon.port, "again\n")) == "v1 1: AGAIN\n" }, daemon.log)
        XCTAssertNotEqual(Set(daemon.workerPIDs()), before, "the crashed worker was replaced")
        XCTAssertNil(daemon.reapIfExited(), "the master survived")
    }

    func testAnEventHandlerWithoutABlockingCallbackServesThreadsThroughTheAdapter() throws {
        try compileCPlugin()
        let daemon = try startDaemon(pluginConfig([("ctest", "libctest.so")],
            Service("threads", handler: "ctest.tally", ["workers": 1, "concurrency": "threads", "greeting": "hello"]),
            Service("fork", handler: "ctest.tally", ["workers": 1, "concurrency": "fork"])))
        let socket = try connectTCP(port: daemon.port("threads"))
        defer { socket.close() }
        XCTAssertEqual(try readLine(socket), "hello\n")
        XCTAssertEqual(try ask(socket, "a\nb\n", lines: 2), "v1 1: A\nv1 2: B\n")
        XCTAssertEqual(try ask(socket, "end\n"), "bye\n")
        XCTAssertEqual(try readAll(socket), [])
        XCTAssertEqual(try ask(port: daemon.port("fork"), "forked\n"), "v1 1: FORKED\n")
        XCTAssertTrue(daemon.waitForLog("tally: closed after 2 lines"), daemon.log)
    }

    func testTheSwiftExampleServesEventsWithLinesSplitAcrossReads() throws {
        try copyGreetPlugin()
        let daemon = try startDaemon(pluginConfig([("greet", "libgreet.so")],
            Service("hello", handler: "greet.hello", ["workers": 1, "concurrency": "events", "greeting": "hey"])))
        let socket = try connectTCP(port: daemon.port)
        defer { socket.close() }
        // Two sends, usually two reads on the daemon's side: the first line's start waits in the
        // connection's state for its end.
        try socket.sendAll("wor")
        XCTAssertEqual(try ask(socket, "ld\nbob\n", lines: 2), "hey, world!\nhey, bob!\n")
        var clients: [Socket] = []
        defer { for client in clients { client.close() } }
        for _ in 0..<100 { clients.append(try connectTCP(port: daemon.port)) }
        for (index, client) in clients.enumerated() { try client.sendAll("n\(index)\n") }
        for (index, client) in clients.enumerated() { XCTAssertEqual(try readLine(client), "hey, n\(index)!\n") }
    }
}
