// The README's C plugins, the blocking upper.c and the event-driven Sources/Examples/plugins/events.c,
// compiled from the checkout with the README's own command lines (the header found as
// <socketserverd/socketserverd_plugin.h>, as installed), then served.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

final class ReadmePluginTests: PluginTestCase {
    func testTheReadmesCPluginsBuildWithTheirCommandLinesAndServe() throws {
        let sources = try readmeBlocks("c")
        XCTAssertEqual(sources.count, 2, "the README has two C plugins")
        let upper = try XCTUnwrap(sources.first { $0.contains("upper_stream") }, "no upper.c")
        let events = try XCTUnwrap(sources.first { $0.contains("ssd_events") }, "no events.c")
        XCTAssertEqual(events, readFile(repositoryRoot + "/Sources/Examples/plugins/events.c"),
                       "the README does not show Sources/Examples/plugins/events.c as it is")
        for source in sources { XCTAssertTrue(source.contains("#include <socketserverd/socketserverd_plugin.h>"), source) }
        let commands = try readmeCommands(startingWith: "cc ").filter { $0.contains(" -I ") }
        XCTAssertEqual(commands.count, 2, "the README's command lines from the checkout: \(commands)")

        // Where the README's reader stands: the checkout (here its Sources), with upper.c in it.
        let checkout = directory + "/checkout"
        XCTAssertEqual(mkdir(checkout, 0o755), 0)
        XCTAssertEqual(symlink(repositoryRoot + "/Sources", checkout + "/Sources"), 0)
        _ = writeFile(upper, to: checkout + "/upper.c", mode: 0o644)
        // `cc` as the README says; where the machine has only the toolchain's clang, under that name.
        let bin = directory + "/bin"
        XCTAssertEqual(mkdir(bin, 0o755), 0)
        XCTAssertEqual(symlink(PluginTestCase.compiler, bin + "/cc"), 0)
        for command in commands {
            let compiled = try runProgram("/bin/sh", ["-c", command], env: ["PATH=\(bin):/usr/bin:/bin"], in: checkout, limit: .seconds(60))
            XCTAssertEqual(compiled.status, 0, "\(command): \(compiled.output)")
        }
        for library in ["libupper.so", "libevents.so"] {
            let temporary = pluginDirectory + "/.\(library).new"
            XCTAssertEqual(rename(checkout + "/" + library, temporary), 0)
            _ = try install(temporary, as: library)
        }
        let daemon = try startDaemon(pluginConfig([("upper", "libupper.so"), ("ev", "libevents.so")],
            Service("up", handler: "upper.upper", ["workers": 1]),
            Service("echo", handler: "ev.echo", ["workers": 1, "concurrency": "events"]),
            Service("echo-threads", handler: "ev.echo", ["workers": 1, "concurrency": "threads"]),
            Service("count", handler: "ev.count", ["workers": 1, "concurrency": "events", "limit": 6])))
        XCTAssertEqual(try ask(port: daemon.port("up"), "shout this\n"), "SHOUT THIS\n")
        XCTAssertEqual(try ask(port: daemon.port("echo"), "echo this\n"), "echo this\n")
        XCTAssertEqual(try ask(port: daemon.port("echo-threads"), "and this\n"), "and this\n")
        // ev.count: "ready", then the bytes so far after each chunk; it ends the connection at `limit`.
        let count = try connectTCP(port: daemon.port("count"))
        defer { count.close() }
        XCTAssertEqual(try readLine(count), "ready\n")
        XCTAssertEqual(try ask(count, "abc"), "3\n")
        XCTAssertEqual(try ask(count, "def"), "6\n")
        XCTAssertEqual(try readAll(count), [], "closed at the limit")
    }
}
