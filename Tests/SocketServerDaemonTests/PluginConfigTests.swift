// [plugin] sections and PLUGIN.HANDLER services, with stand-in plugin loaders: path resolution,
// section errors, plugin handlers checked like built-ins, the master's deferred mode.
import SocketServer
@testable import SocketServerDaemon
import SocketServerHandlers
import XCTest

/// Loads nothing: answers from a table (name → result), `.failed` for anything else.
struct TablePluginLoader: PluginLoader {
    static let greet: [HandlerDescriptor] = [
        HandlerDescriptor(name: "hello", stream: StreamRequestHandler.self, datagram: DatagramRequestHandler.self,
                          keys: ["greeting": "hello", "max_name": "64"],
                          validate: { options in
                              (Int(options["max_name"] ?? "") ?? 0) > 0 ? [] : [("max_name", "must be a positive integer")]
                          }),
        HandlerDescriptor(name: "store", stream: StreamRequestHandler.self, datagram: nil, keys: ["file": nil]),
    ]
    var table: [String: PluginLoadResult] = ["greet": .loaded(greet)]

    func load(_ plugin: PluginConfig) -> PluginLoadResult {
        table[plugin.name] ?? .failed("plugin '\(plugin.name)': cannot load \(plugin.path)")
    }
}

final class PluginConfigTests: XCTestCase {
    func parse(_ text: String, loader: any PluginLoader = TablePluginLoader()) throws(ConfigErrors) -> DaemonConfig {
        try ConfigLoader.parse(text: text, file: "main.conf", catalog: ConfigTestCatalog(), plugins: loader, cpuCount: 2)
    }

    func errors(_ text: String, loader: any PluginLoader = TablePluginLoader()) -> [String] {
        do {
            _ = try parse(text, loader: loader)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    func testPluginPathsAreResolvedAgainstPluginDir() throws {
        let config = try parse("""
            [daemon]
            plugin_dir = /opt/plugins
            [plugin greet]
            path = libgreet.so
            [plugin other]
            path = /abs/libother.so
            \(configService())
            """, loader: TablePluginLoader(table: ["greet": .deferred, "other": .deferred]))
        XCTAssertEqual(config.plugins, [
            PluginConfig(name: "greet", path: "/opt/plugins/libgreet.so", location: SourceLocation(file: "main.conf", line: 4)),
            PluginConfig(name: "other", path: "/abs/libother.so", location: SourceLocation(file: "main.conf", line: 6)),
        ])
        let standard = try parse("[plugin greet]\npath = sub/libgreet.so\n" + configService(), loader: TablePluginLoader(table: ["greet": .deferred]))
        XCTAssertEqual(standard.plugins.first?.path, "/usr/lib/socketserverd/plugins/sub/libgreet.so")
    }

    func testPluginSectionErrors() {
        XCTAssertEqual(errors("""
            [plugin]
            path = x
            [plugin a.b]
            path = x
            [plugin nopath]
            [plugin empty]
            path =
            [plugin greet]
            path = libgreet.so
            colour = red
            [plugin greet]
            path = again.so
            """), [
            "main.conf:1: [plugin] needs a name: [plugin NAME]",
            "main.conf:3: plugin name 'a.b' may only contain letters, digits, '_' and '-' (services name its handlers as PLUGIN.HANDLER)",
            "main.conf:5: plugin 'nopath' is missing the required key 'path'",
            "main.conf:7: path is empty (the plugin's shared library, such as libempty.so)",
            "main.conf:10: unknown key 'colour' ([plugin] takes only 'path'; the plugin's own keys go in the [service] sections that use it)",
            "main.conf:11: duplicate plugin 'greet' (first defined at main.conf:8)",
        ])
    }

    func testPluginHandlersAreCheckedLikeBuiltins() throws {
        let header = "[plugin greet]\npath = libgreet.so\n"
        let config = try parse(header + configService("a", handler: "greet.hello", "greeting = hi\n"))
        let service = try XCTUnwrap(config.services.first)
        XCTAssertEqual(service.handler, "greet.hello")
        XCTAssertEqual(service.options, ["greeting": "hi", "max_name": "64"])
        XCTAssertEqual(service.plugin?.name, "greet")

        XCTAssertEqual(errors(header
            + configService("a", handler: "greet.helo")
            + configService("b", listen: "tcp://127.0.0.1:7001", handler: "greet.hello", "colour = red\nmax_name = 0\n")
            + configService("c", listen: "udp://127.0.0.1:7002", handler: "greet.store", "file = /x\n")
            + configService("d", listen: "tcp://127.0.0.1:7003", handler: "greet.store")
            + configService("e", listen: "tcp://127.0.0.1:7004", handler: "gret.hello")), [
            "main.conf:5: plugin 'greet' (/usr/lib/socketserverd/plugins/libgreet.so) has no handler 'helo' (did you mean 'hello'?) (its handlers: hello, store)",
            "main.conf:9: unknown key 'colour' (handler 'greet.hello' accepts: greeting, max_name)",
            "main.conf:10: max_name: must be a positive integer",
            "main.conf:13: handler 'greet.store' cannot serve datagram listeners like udp://127.0.0.1:7002; it serves stream listeners only",
            "main.conf:15: service 'd' is missing the key 'file', which handler 'greet.store' requires",
            "main.conf:20: handler 'gret.hello' names plugin 'gret', but no [plugin gret] section declares it (did you mean 'greet'?) (declared plugins: greet)",
        ])
    }

    func testAFailedPluginIsReportedOnceAtItsPathLine() {
        XCTAssertEqual(errors("[plugin broken]\npath = libbroken.so\n" + configService("a", handler: "broken.x", "any = key\n")), [
            "main.conf:2: plugin 'broken': cannot load /usr/lib/socketserverd/plugins/libbroken.so",
        ])
    }

    func testTheMastersDeferredModeTakesPluginKeysOnTrust() throws {
        let config = try parse("[plugin greet]\npath = libgreet.so\n"
            + configService("a", handler: "greet.anything", "colour = red\nworkers = 3\n"),
            loader: DeferredPluginLoader())
        let service = try XCTUnwrap(config.services.first)
        XCTAssertEqual(service.options, ["colour": "red"])
        XCTAssertEqual(service.workers, 3)
        XCTAssertEqual(service.plugin?.path, "/usr/lib/socketserverd/plugins/libgreet.so")
        // The daemon's catalogue starts such a service's workers with the bridge handlers.
        let descriptor = try XCTUnwrap(DaemonCatalog().descriptor(named: "greet.anything"))
        XCTAssertTrue(descriptor.stream == PluginStreamBridge.self && descriptor.datagram == PluginDatagramBridge.self)
        XCTAssertNil(DaemonCatalog().descriptor(named: "nope"))
    }
}
