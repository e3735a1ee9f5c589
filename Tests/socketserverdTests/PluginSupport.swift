// Plugins for the daemon's tests: the C test plugin compiled with cc, Swift plugins copied from
// the build directory, both into a directory the daemon accepts (0755, files 0644), and configs
// that load them.
import Foundation
import SocketServer
import SocketServerTestSupport
import XCTest

class PluginTestCase: DaemonTestCase {
    /// `plugin_dir` of the test's configs. Not the test directory itself: that is 0777, and the
    /// daemon refuses plugins in a directory others can write to.
    var pluginDirectory: String { canonicalDirectory + "/plugins" }

    /// The test directory without symbolic links or doubled slashes, as the daemon reports paths.
    var canonicalDirectory: String { realPath(directory) }

    override func setUpWithError() throws {
        try super.setUpWithError()
        mkdir(pluginDirectory, 0o755)
        chmod(pluginDirectory, 0o755)
    }

    static var compiler: String {
        ["/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang", "/opt/swift/usr/bin/clang"]
            .first { FileManager.default.isExecutableFile(atPath: $0) } ?? "cc"
    }

    /// The checkout's plugin header, as installed (socketserverd/socketserverd_plugin.h).
    static var currentHeaders: String { repositoryRoot + "/Sources/CSocketServerPlugin/include" }
    /// A copy of ABI 1.0's header, as plugins built before ABI 1.1 saw it.
    static var abi10Headers: String { repositoryRoot + "/Tests/PluginFixtures/abi-1.0" }

    /// Compiles Tests/PluginFixtures/ctest_plugin.c (or `source`) with `defines` and the header in
    /// `include` into `plugins/NAME` (a new file renamed into place, as a package upgrade does:
    /// running workers keep the old one mapped).
    @discardableResult
    func compileCPlugin(_ name: String = "libctest.so", defines: [String] = [], include: String = PluginTestCase.currentHeaders,
                        source: String = repositoryRoot + "/Tests/PluginFixtures/ctest_plugin.c",
                        file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let temporary = pluginDirectory + "/.\(name).\(UUID().uuidString)"
        let arguments = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-I", include]
            + defines.map { "-D" + $0 } + [source, "-o", temporary]
        let compiled = try runProgram(PluginTestCase.compiler, arguments, limit: .seconds(60))
        guard compiled.status == 0 else {
            XCTFail("cc failed:\n\(compiled.output)", file: file, line: line)
            throw TestFailure.setup("cc")
        }
        return try install(temporary, as: name)
    }

    /// The example Swift plugin from the build directory (next to the socketserverd binary).
    @discardableResult
    func copyGreetPlugin(as name: String = "libgreet.so") throws -> String {
        try copyBuiltPlugin("libgreet.so", as: name)
    }

    /// A Swift plugin product (`library`, e.g. libfaults-fixture.so) from the build directory.
    @discardableResult
    func copyBuiltPlugin(_ library: String, as name: String? = nil) throws -> String {
        let name = name ?? library
        let built = URL(fileURLWithPath: DaemonProcess.binaryPath).deletingLastPathComponent()
            .appendingPathComponent(library).path
        guard FileManager.default.fileExists(atPath: built) else {
            throw XCTSkip("\(library) is not built next to \(DaemonProcess.binaryPath) (swift build builds it)")
        }
        let temporary = pluginDirectory + "/.\(name).\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: built, toPath: temporary)
        return try install(temporary, as: name)
    }

    func install(_ temporary: String, as name: String) throws -> String {
        chmod(temporary, 0o644)
        let path = pluginDirectory + "/" + name
        guard rename(temporary, path) == 0 else { throw TestFailure.setup("rename \(temporary)") }
        return path
    }

    /// A config loading `plugins` (name → path) from this test's plugin_dir: `[daemon]` with
    /// graceful_timeout = 5 and plugin_dir first (so the first [plugin] section's path is line 6),
    /// then `daemon`'s keys.
    func pluginConfig(_ plugins: [(name: String, path: String)], _ services: Service..., daemon: ConfigKeys = [:]) -> DaemonConfigBuilder {
        var config = DaemonConfigBuilder(daemon: ["graceful_timeout": 5, "plugin_dir": pluginDirectory], plugins: plugins, services: services)
        config.daemon += daemon.map { ($0.key, $0.value.description) }
        return config
    }

    /// The config of a service on the C test plugin (libctest.so), handler `ctest.HANDLER`.
    func ctestConfig(_ handler: String = "shout", _ keys: ConfigKeys = [:], daemon: ConfigKeys = [:]) -> DaemonConfigBuilder {
        pluginConfig([("ctest", "libctest.so")], Service(handler, handler: "ctest.\(handler)", keys), daemon: daemon)
    }

    /// Starts a daemon whose plugin check waits for the file `goAhead` (the C plugin built with
    /// SLOW_CHECK), and returns once that check has begun: the daemon is inside its start-up.
    func startDaemonInsideItsPluginCheck(goAhead: String, daemon keys: ConfigKeys = [:]) throws -> DaemonProcess {
        try compileCPlugin(defines: ["SLOW_CHECK=\"\(goAhead)\""])
        let daemon = try startDaemon(ctestConfig("shout", ["repeat": 1, "workers": 1], daemon: keys), ready: false)
        XCTAssertTrue(eventually(within: .seconds(20)) { fileExists(goAhead + ".started") || daemon.reapIfExited() != nil },
                      "the plugin check never began")
        XCTAssertNil(daemon.reapIfExited(), daemon.log)
        return daemon
    }
}

/// A config written line by line, with the error expected at some of its lines (written next to
/// the lines they are about).
struct ConfigWithErrors {
    private(set) var lines: [String] = []
    private(set) var expected: [(line: Int, text: String)] = []

    mutating func add(_ line: String, expect: String? = nil) {
        lines.append(line)
        if let expect { expected.append((lines.count, expect)) }
    }

    var text: String { lines.joined(separator: "\n") + "\n" }

    /// Asserts that --check-config's `output` (for the file `name`) has each expected error at its
    /// line, and no more errors than expected.
    func assertReported(in output: String, name: String = "check.conf", file: StaticString = #filePath, line: UInt = #line) {
        for (number, text) in expected {
            let wanted = "\(name):\(number): "
            XCTAssertTrue(output.split(separator: "\n").contains { $0.contains(wanted) && $0.contains(text) },
                          "missing '\(wanted)… \(text)' in:\n\(output)", file: file, line: line)
        }
        XCTAssertTrue(output.contains("test failed: \(expected.count) error(s)"), output, file: file, line: line)
    }
}
