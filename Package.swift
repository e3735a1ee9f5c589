// swift-tools-version: 6.0
// socketserverd: Python's socketserver rebuilt in Swift, and a pre-fork daemon built on it.
// Packages: none. Only the Swift toolchain (Glibc, Synchronization, XCTest).
import PackageDescription

let package = Package(
    name: "socketserverd",
    products: [
        .library(name: "SocketServer", targets: ["SocketServer"]),
        // The built-in handlers (echo, discard, daytime, upper, upload, exec), for library users too.
        .library(name: "SocketServerHandlers", targets: ["SocketServerHandlers"]),
        .executable(name: "socketserverd", targets: ["socketserverd"]),
        // For Swift handler plugins: subclass PluginStreamHandler, export with one line.
        .library(name: "SocketServerPlugin", targets: ["SocketServerPlugin"]),
        // The example handler plugin, libgreet.so (links the Swift runtime dynamically, as the daemon does).
        .library(name: "greet", type: .dynamic, targets: ["GreetPlugin"]),
        .executable(name: "socketserverd-bench", targets: ["socketserverd-bench"]),
        // A test fixture (not installed: debian/rules skips "-fixture" products): a Swift plugin
        // whose handler throws or traps on request, for the daemon's fault tests.
        .library(name: "faults-fixture", type: .dynamic, targets: ["FaultsPluginFixture"]),
    ],
    targets: [
        // Tiny C shims for the few libc calls Swift cannot reach (variadic prctl).
        .target(name: "CSocketServerShims"),
        // The library: sockets, addresses, servers, concurrency, request handlers.
        .target(name: "SocketServer", dependencies: ["CSocketServerShims"]),
        // Built-in handlers the daemon serves (echo, discard, daytime, upper, upload, exec).
        .target(name: "SocketServerHandlers", dependencies: ["SocketServer", "CSocketServerShims"]),
        // The daemon: config, master (arbiter), workers, signals.
        .target(name: "SocketServerDaemon", dependencies: ["SocketServer", "SocketServerHandlers", "CSocketServerShims", "CSocketServerPlugin"]),
        // The handler plugin C ABI: include/socketserverd/socketserverd_plugin.h, laid out as installed
        // (/usr/include/socketserverd/), so `-I Sources/CSocketServerPlugin/include` finds it from the checkout.
        .target(name: "CSocketServerPlugin"),
        // The Swift helper for plugin authors; it reuses the library's reader, but plugins and the daemon
        // exchange only C types across the ABI.
        .target(name: "SocketServerPlugin", dependencies: ["CSocketServerPlugin", "SocketServer"]),
        // The example plugin's code; built as the `greet` dynamic library product.
        .target(name: "GreetPlugin", dependencies: ["SocketServerPlugin"]),
        .target(name: "FaultsPluginFixture", dependencies: ["SocketServerPlugin"], path: "Tests/PluginFixtures/FaultsPlugin"),
        // main.swift and argument parsing only.
        .executableTarget(name: "socketserverd", dependencies: ["SocketServerDaemon"]),
        // The benchmark: starts socketserverd (a dependency, so `swift run` builds it too),
        // the Python peers and the C reference in Tests/Benchmarks, and loads them with itself (--load).
        .executableTarget(name: "socketserverd-bench", dependencies: ["socketserverd", "SocketServer", "CSocketServerShims", "CSocketServerBench"]),
        // libFuzzer targets for the config loader and the upload header (Tests/Fuzz/run.sh); built
        // normally, it replays input files instead.
        .executableTarget(name: "socketserverd-fuzz", dependencies: ["SocketServerDaemon", "SocketServerHandlers", "CSocketServerFuzz"]),
        .target(name: "CSocketServerFuzz"),
        // epoll for the benchmark's load generator (Swift's Glibc module leaves sys/epoll.h out).
        .target(name: "CSocketServerBench"),
        // What the test targets share (as swift-nio's NIOTestUtils): polling with a deadline, clients,
        // temporary files, spawning and reaping, the daemon process and its config builder.
        .target(name: "SocketServerTestSupport", dependencies: ["SocketServer", "CSocketServerShims"], path: "Tests/SocketServerTestSupport"),
        .testTarget(name: "SocketServerTests", dependencies: ["SocketServer", "SocketServerHandlers", "CSocketServerShims", "SocketServerTestSupport"]),
        .testTarget(name: "SocketServerDaemonTests", dependencies: ["SocketServerDaemon", "SocketServer", "SocketServerHandlers", "SocketServerTestSupport"]),
        // Integration tests: they start the real socketserverd binary.
        .testTarget(name: "socketserverdTests", dependencies: ["SocketServer", "CSocketServerShims", "SocketServerTestSupport"]),
        .testTarget(name: "SocketServerHandlersTests", dependencies: ["SocketServerHandlers", "SocketServer", "SocketServerTestSupport"]),
        // The README's programs run with their Python clients, and the README's blocks checked against them.
        .testTarget(name: "ExampleTests", dependencies: ["SocketServer", "SocketServerTestSupport"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)

// The README's library programs (the seeds in Swift), one small executable each, written as a
// library user writes them (`swift run tcp-upper`); their Python clients sit beside them.
let examples: [(name: String, handlers: Bool, client: Bool)] = [
    ("tcp-upper", false, true), ("udp-upper", false, true), ("threaded-demo", false, false), ("chat-server", false, true),
    ("upload-server", false, true), ("upload-handler", true, false), ("event-upper", false, false),
]
package.targets += examples.map { example in
    .executableTarget(name: example.name, dependencies: example.handlers ? ["SocketServer", "SocketServerHandlers"] : ["SocketServer"],
                      path: "Sources/Examples/\(example.name)", exclude: example.client ? ["client.py"] : [])
}
