// The plugin ABI's versions: plugins built against ABI 1.0's header (a copy in
// Tests/PluginFixtures/abi-1.0) or with -DSSD_PLUGIN_ABI_MINOR=0 load and serve as before, and the
// daemon reads no byte past their structs (they end right before an inaccessible page); which
// handlers `concurrency = events` accepts, checked at the concurrency line.
import Foundation
import SocketServerTestSupport
import XCTest

final class PluginABITests: PluginTestCase {
    func testPluginsBuiltForABI10LoadAndServeWithoutTheDaemonReadingPastTheirTables() throws {
        try compileCPlugin("libold.so", defines: ["GUARD_PAGES"], include: PluginTestCase.abi10Headers)
        try compileCPlugin("libminor0.so", defines: ["GUARD_PAGES", "SSD_PLUGIN_ABI_MINOR=0"])
        try compileCPlugin("libnew.so", defines: ["GUARD_PAGES"])
        let daemon = try startDaemon(pluginConfig([("old", "libold.so"), ("minor0", "libminor0.so"), ("new", "libnew.so")],
            Service("old", handler: "old.shout", ["prefix": "X", "workers": 1, "concurrency": "threads"]),
            Service("old-need", handler: "old.need", ["word": "w", "workers": 1]),
            Service("minor0", handler: "minor0.shout", ["workers": 1, "concurrency": "fork"]),
            Service("new", handler: "new.tally", ["workers": 1, "concurrency": "events"])))
        XCTAssertEqual(try ask(port: daemon.port("old"), "abc\n"), "v1 X: ABC\n")
        XCTAssertEqual(try ask(port: daemon.port("old-need"), ""), "w\n")
        XCTAssertEqual(try ask(port: daemon.port("minor0"), "abc\n"), "v1 C: ABC\n")
        XCTAssertEqual(try ask(port: daemon.port("new"), "abc\n"), "v1 1: ABC\n")
        XCTAssertFalse(daemon.log.contains("SIGSEGV"), daemon.log)
    }

    /// The guard pages catch a daemon that reads too far: a 1.0 table that claims to be 1.1 is
    /// read with 1.1's stride, which runs into the inaccessible page.
    func testTheGuardPagesCatchATableReadWithTheWrongStride() throws {
        try compileCPlugin("liblying.so", defines: ["GUARD_PAGES", "CLAIM_ABI_1_1"], include: PluginTestCase.abi10Headers)
        let config = pluginConfig([("lying", "liblying.so")], Service("a", handler: "lying.shout", listen: .tcpPort(7031)))
        let (status, output) = try checkConfig(try config.text(ports: [:])).statusAndOutput
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("check.conf:6: ") && output.contains("killed by SIGSEGV while loading"), output)
    }

    func testConcurrencyEventsTakesEventHandlersAndRefusesBlockingOnesAtItsLine() throws {
        try compileCPlugin()
        try compileCPlugin("libold.so", include: PluginTestCase.abi10Headers)
        try copyGreetPlugin()
        var config = ConfigWithErrors()
        func add(_ line: String, expect: String? = nil) { config.add(line, expect: expect) }
        add("[daemon]")
        add("plugin_dir = \(pluginDirectory)")
        for (name, path) in [("ctest", "libctest.so"), ("old", "libold.so"), ("greet", "libgreet.so")] {
            add("[plugin \(name)]")
            add("path = \(path)")
        }
        func service(_ name: String, _ port: Int, _ handler: String, expect: String? = nil) {
            add("[service \(name)]")
            add("listen = tcp://127.0.0.1:\(port)")
            add("handler = \(handler)")
            add("concurrency = events", expect: expect)
        }
        service("tally", 7041, "ctest.tally")
        service("greet", 7042, "greet.hello")
        let refusal = "has no event callbacks, so it cannot serve concurrency 'events'"
        service("shout", 7043, "ctest.shout", expect: "plugin handler 'ctest.shout' \(refusal)")
        service("old", 7044, "old.shout", expect: "plugin handler 'old.shout' \(refusal)")
        add("[service udp]")
        add("listen = udp://127.0.0.1:7045")
        add("handler = ctest.tally", expect: "handler 'ctest.tally' cannot serve datagram listeners")

        let (status, output) = try checkConfig(config.text).statusAndOutput
        XCTAssertEqual(status, 1, output)
        config.assertReported(in: output)
    }

    func testAPluginOfANewerMinorOrAnotherMajorIsRefusedAtItsPathLine() throws {
        try compileCPlugin("libnewer.so", defines: ["SSD_PLUGIN_ABI_MINOR=1", "ABI_OVERRIDE=0x20001u"])
        try compileCPlugin("libmajor2.so", defines: ["ABI_OVERRIDE=2u"])
        let config = pluginConfig([("newer", "libnewer.so"), ("major2", "libmajor2.so")],
                                  Service("a", handler: "newer.shout", listen: .tcpPort(7051)),
                                  Service("b", handler: "major2.shout", listen: .tcpPort(7052)))
        let (status, output) = try checkConfig(try config.text(ports: [:])).statusAndOutput
        XCTAssertEqual(status, 1, output)
        XCTAssertTrue(output.contains("check.conf:6: ") && output.contains("built for plugin ABI version 131073 (1.2), "
            + "but this socketserverd speaks 1.0 to 1.1"), output)
        XCTAssertTrue(output.contains("check.conf:9: ") && output.contains("ABI version 2 (2.0)"), output)
    }
}
