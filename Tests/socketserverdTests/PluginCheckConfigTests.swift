// `socketserverd --check-config` names every plugin fault with file:line, and a daemon started on
// such a config does not start.
import Foundation
import SocketServerTestSupport
import XCTest

final class PluginCheckConfigTests: PluginTestCase {
    func testGoodPluginConfigPasses() throws {
        try copyGreetPlugin()
        try compileCPlugin()
        let config = pluginConfig([("greet", "libgreet.so"), ("ctest", pluginDirectory + "/libctest.so")],
                                  Service("hello", handler: "greet.hello", listen: .tcpPort(7011), ["greeting": "hi there"]),
                                  Service("need", handler: "ctest.need", listen: .tcpPort(7012), ["word": "w"]))
        let (status, output) = try checkConfig(try config.text(ports: [:])).statusAndOutput
        XCTAssertEqual(status, 0, output)
        XCTAssertTrue(output.contains("syntax is ok (2 services"), output)
    }

    func testEveryPluginFaultIsNamedWithFileAndLine() throws {
        try compileCPlugin()
        try compileCPlugin("libwrongabi.so", defines: ["WRONG_ABI"])
        try compileCPlugin("libnoentry.so", defines: ["NO_ENTRY"])
        try compileCPlugin("libcrash.so", defines: ["CRASH_ON_LOAD"])
        let writable = try compileCPlugin("libwritable.so")
        chmod(writable, 0o664)
        let open = canonicalDirectory + "/open"
        mkdir(open, 0o777)
        chmod(open, 0o777)
        let inOpen = try compileCPlugin("libinopen.so")
        XCTAssertEqual(rename(inOpen, open + "/libinopen.so"), 0)

        var config = ConfigWithErrors()
        func add(_ line: String, expect: String? = nil) { config.add(line, expect: expect) }
        add("[daemon]")
        add("plugin_dir = \(pluginDirectory)")
        func plugin(_ name: String, _ path: String, expect: String? = nil) {
            add("[plugin \(name)]")
            add("path = \(path)", expect: expect)
        }
        plugin("ctest", "libctest.so")
        plugin("gone", "libgone.so", expect: "plugin file \(pluginDirectory)/libgone.so does not exist")
        plugin("noentry", "libnoentry.so", expect: "does not export the entry symbol socketserverd_plugin_entry")
        plugin("wrongabi", "libwrongabi.so", expect: "built for plugin ABI version 99 (99.0), but this socketserverd speaks 1.0 to 1.1")
        plugin("crash", "libcrash.so", expect: "killed by SIGSEGV while loading")
        plugin("writable", "libwritable.so", expect: "is writable by its group (mode 0664)")
        plugin("inopen", "\(open)/libinopen.so", expect: "plugin directory \(open) (of \(open)/libinopen.so) is writable by everyone")
        func service(_ name: String, _ listen: String, expect: String? = nil) {
            add("[service \(name)]", expect: expect)
            add("listen = \(listen)")
        }
        service("a", "tcp://127.0.0.1:7021")
        add("handler = ctest.shot", expect: "plugin 'ctest' (\(pluginDirectory)/libctest.so) has no handler 'shot' (did you mean 'shout'?)")
        add("repeat = 11")
        service("b", "tcp://127.0.0.1:7022")
        add("handler = ctest.shout")
        add("repeat = 11", expect: "repeat: must be a whole number from 1 to 10, not '11' (rejected by plugin handler 'shout')")
        add("colour = red", expect: "unknown key 'colour' (handler 'ctest.shout' accepts: prefix, repeat)")
        service("c", "tcp://127.0.0.1:7023", expect: "service 'c' is missing the key 'word', which handler 'ctest.need' requires")
        add("handler = ctest.need")
        service("d", "udp://127.0.0.1:7024")
        add("handler = ctest.need", expect: "handler 'ctest.need' cannot serve datagram listeners")
        add("word = x")
        service("e", "tcp://127.0.0.1:7025")
        add("handler = ctst.shout", expect: "names plugin 'ctst', but no [plugin ctst] section declares it (did you mean 'ctest'?)")
        service("f", "tcp://127.0.0.1:7026")
        add("handler = gone.anything")  // its plugin is already reported; nothing more here

        let (status, output) = try checkConfig(config.text).statusAndOutput
        XCTAssertEqual(status, 1, output)
        config.assertReported(in: output)
        XCTAssertFalse(output.contains("check.conf:\(config.lines.count)"), "a service of a failed plugin adds no error:\n\(output)")
        XCTAssertFalse(output.contains("Backtrac"), "the crash is reported, not dumped:\n\(output)")
    }

    func testStartingWithABadPluginFailsWithFileAndLine() throws {
        try compileCPlugin("libwrongabi.so", defines: ["WRONG_ABI"])
        // The daemon refuses the plugin before it would bind anything: the port is never used.
        let config = pluginConfig([("ctest", "libwrongabi.so")], Service("a", handler: "ctest.shout", listen: .tcpPort(7)))
        let path = writeConfig(try config.text(ports: [:]), to: configDirectory + "/start.conf")
        let (status, text) = try runDaemonBinary(["--config", path]).statusAndOutput
        XCTAssertEqual(status, 1, text)
        XCTAssertTrue(text.contains("start.conf:6: plugin 'ctest':") && text.contains("ABI version 99") && text.contains("not starting"), text)
    }
}
