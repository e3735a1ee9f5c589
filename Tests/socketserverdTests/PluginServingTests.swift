// Plugins serving real clients: the Swift example (libgreet.so) and the C test plugin, over TCP,
// UDP and Unix sockets, with keys from the config; one Swift runtime; no plugin in the master.
import Foundation
import SocketServer
import XCTest

final class PluginServingTests: PluginTestCase {
    func testSwiftExamplePluginServesStreamsAndDatagrams() throws {
        try copyGreetPlugin()
        let port = freePort(), other = freePort()
        let daemon = try startDaemon(pluginHeader([("greet", "libgreet.so")]) + """
            [service hello]
            listen = tcp://127.0.0.1:\(port)
            handler = greet.hello
            greeting = hi there
            workers = 2

            [service hello-udp]
            listen = udp://127.0.0.1:\(port)
            handler = greet.hello
            workers = 1

            [service short]
            listen = tcp://127.0.0.1:\(other)
            handler = greet.hello
            max_name = 3
            concurrency = fork
            workers = 1
            """)
        XCTAssertEqual(try ask(port: port, "world\nbob\n", lines: 2), "hi there, world!\nhi there, bob!\n")
        XCTAssertEqual(try datagramRoundTrip(.inet(host: "127.0.0.1", port: UInt16(port)), "udp"), "hello, udp!")
        XCTAssertEqual(try ask(port: other, "alexander\n"), "hello, ale!\n")
        for round in 0..<20 { XCTAssertEqual(try ask(port: port, "n\(round)\n"), "hi there, n\(round)!\n") }
        XCTAssertNil(daemon.reapIfExited())
    }

    func testCPluginServesStreamsAndDatagramsWithItsKeys() throws {
        try compileCPlugin()
        let port = freePort()
        let unixPath = directory + "/need.sock"
        let daemon = try startDaemon(pluginHeader([("ctest", "libctest.so")]) + """
            [service shout]
            listen = tcp://127.0.0.1:\(port)
            handler = ctest.shout
            prefix = X
            repeat = 2
            workers = 1

            [service shout-udp]
            listen = udp://127.0.0.1:\(port)
            handler = ctest.shout
            workers = 1

            [service need]
            listen = unix:\(unixPath)
            socket_mode = 0666
            handler = ctest.need
            word = swordfish
            concurrency = fork
            workers = 1
            """)
        XCTAssertEqual(try ask(port: port, "abc\n", lines: 2), "v1 X: ABC\nv1 X: ABC\n")
        XCTAssertEqual(try datagramRoundTrip(.inet(host: "127.0.0.1", port: UInt16(port)), "dgram"), "v1 C: DGRAM\n")
        let socket = try Socket(family: .unix, type: .stream)
        defer { socket.close() }
        try socket.setTimeout(.seconds(5))
        try socket.connect(.unix(path: unixPath))
        XCTAssertEqual(String(decoding: try readAll(socket), as: UTF8.self), "swordfish\n")
        // The plugin's log callback reaches the daemon's log, with the service and handler.
        XCTAssertTrue(daemon.waitForLog("service need: ctest.need: "), daemon.log)
        XCTAssertTrue(daemon.log.contains("need: sent the word"), daemon.log)
    }

    func testSilentClientTimesOutInsideTheCPlugin() throws {
        try compileCPlugin()
        let port = freePort()
        let daemon = try startDaemon(pluginHeader([("ctest", "libctest.so")]) + """
            [service shout]
            listen = tcp://127.0.0.1:\(port)
            handler = ctest.shout
            timeout = 0.5
            workers = 1
            """)
        let socket = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(5))
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
        let port = freePort(), other = freePort()
        let daemon = try startDaemon(pluginHeader([("greet", "libgreet.so"), ("ctest", "libctest.so")]) + """
            [service hello]
            listen = tcp://127.0.0.1:\(port)
            handler = greet.hello
            workers = 1

            [service shout]
            listen = tcp://127.0.0.1:\(other)
            handler = ctest.shout
            workers = 1
            """)
        XCTAssertEqual(try ask(port: port, "you\n"), "hello, you!\n")
        XCTAssertEqual(try ask(port: other, "x\n"), "v1 C: X\n")
        let master = mappedFiles(daemon.pid)
        XCTAssertFalse(master.contains(greet) || master.contains(ctest), "the master mapped a plugin:\n\(master.sorted())")
        let workers = daemon.workerPIDs().map(mappedFiles)
        let swiftWorker = try XCTUnwrap(workers.first { $0.contains(greet) }, "no worker mapped \(greet)")
        let runtimes = swiftWorker.filter { $0.hasSuffix("/libswiftCore.so") }
        XCTAssertEqual(runtimes.count, 1, "Swift runtimes in the plugin's worker: \(runtimes.sorted())")
        XCTAssertTrue(workers.contains { $0.contains(ctest) }, "no worker mapped \(ctest)")
    }
}
