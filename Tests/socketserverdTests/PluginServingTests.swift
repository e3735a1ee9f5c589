// Plugins serving real clients: the Swift example (libgreet.so) and the C test plugin, over TCP,
// UDP and Unix sockets, with keys from the config; one Swift runtime; no plugin in the master.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class PluginServingTests: PluginTestCase {
    func testSwiftExamplePluginServesStreamsAndDatagrams() throws {
        try copyGreetPlugin()
        let daemon = try startDaemon(pluginConfig([("greet", "libgreet.so")],
            Service("hello", handler: "greet.hello", ["greeting": "hi there", "workers": 2]),
            Service("hello-udp", handler: "greet.hello", listen: .udpBeside("hello"), ["workers": 1]),
            Service("short", handler: "greet.hello", ["max_name": 3, "concurrency": "fork", "workers": 1])))
        let port = daemon.port("hello")
        XCTAssertEqual(try ask(port: port, "world\nbob\n", lines: 2), "hi there, world!\nhi there, bob!\n")
        XCTAssertEqual(try udpRoundTrip(port: port, "udp"), "hello, udp!")
        XCTAssertEqual(try ask(port: daemon.port("short"), "alexander\n"), "hello, ale!\n")
        for round in 0..<20 { XCTAssertEqual(try ask(port: port, "n\(round)\n"), "hi there, n\(round)!\n") }
        XCTAssertNil(daemon.reapIfExited())
    }

    func testCPluginServesStreamsAndDatagramsWithItsKeys() throws {
        try compileCPlugin()
        let unixPath = directory + "/need.sock"
        let daemon = try startDaemon(pluginConfig([("ctest", "libctest.so")],
            Service("shout", handler: "ctest.shout", ["prefix": "X", "repeat": 2, "workers": 1]),
            Service("shout-udp", handler: "ctest.shout", listen: .udpBeside("shout"), ["workers": 1]),
            Service("need", handler: "ctest.need", listen: .address("unix:\(unixPath)"),
                    ["socket_mode": "0666", "word": "swordfish", "concurrency": "fork", "workers": 1])))
        XCTAssertEqual(try ask(port: daemon.port("shout"), "abc\n", lines: 2), "v1 X: ABC\nv1 X: ABC\n")
        XCTAssertEqual(try udpRoundTrip(port: daemon.port("shout"), "dgram"), "v1 C: DGRAM\n")
        let socket = try connectClient(.unix(path: unixPath))
        defer { socket.close() }
        XCTAssertEqual(try readAllText(socket), "swordfish\n")
        // The plugin's log callback reaches the daemon's log, with the service and handler.
        XCTAssertTrue(daemon.waitForLog("service need: ctest.need: "), daemon.log)
        XCTAssertTrue(daemon.log.contains("need: sent the word"), daemon.log)
    }

    func testSilentClientTimesOutInsideTheCPlugin() throws {
        try compileCPlugin()
        let daemon = try startDaemon(ctestConfig("shout", ["timeout": 0.5, "workers": 1]))
        let socket = try connectTCP(port: daemon.port)
        defer { socket.close() }
        let start = Date()
        // The plugin's blocking recv() gives up after the service's timeout (SO_RCVTIMEO).
        XCTAssertEqual(try readAll(socket), [])
        XCTAssertLessThan(Date().timeIntervalSince(start), 4)
        XCTAssertTrue(daemon.waitForLog("plugin handler ctest.shout returned status 2"), daemon.log)
        XCTAssertTrue(daemon.log.contains("ctest.shout: 127.0.0.1:") && daemon.log.contains("recv failed"), daemon.log)
    }

    func testOneSwiftRuntimeAndNoPluginInTheMaster() throws {
        let greet = try copyGreetPlugin()
        let ctest = try compileCPlugin()
        let daemon = try startDaemon(pluginConfig([("greet", "libgreet.so"), ("ctest", "libctest.so")],
            Service("hello", handler: "greet.hello", ["workers": 1]),
            Service("shout", handler: "ctest.shout", ["workers": 1])))
        XCTAssertEqual(try ask(port: daemon.port("hello"), "you\n"), "hello, you!\n")
        XCTAssertEqual(try ask(port: daemon.port("shout"), "x\n"), "v1 C: X\n")
        let master = mappedFiles(daemon.pid)
        XCTAssertFalse(master.contains(greet) || master.contains(ctest), "the master mapped a plugin:\n\(master.sorted())")
        let workers = daemon.workerPIDs().map(mappedFiles)
        let swiftWorker = try XCTUnwrap(workers.first { $0.contains(greet) }, "no worker mapped \(greet)")
        let runtimes = swiftWorker.filter { $0.hasSuffix("/libswiftCore.so") }
        XCTAssertEqual(runtimes.count, 1, "Swift runtimes in the plugin's worker: \(runtimes.sorted())")
        XCTAssertTrue(workers.contains { $0.contains(ctest) }, "no worker mapped \(ctest)")
    }
}
