// Plugins for the daemon's tests: the C test plugin compiled with cc, the Swift example copied
// from the build directory, both into a directory the daemon accepts (0755, files 0644).
import Foundation
import SocketServer
import XCTest

class PluginTestCase: DaemonTestCase {
    /// `plugin_dir` of the test's configs. Not the test directory itself: that is 0777, and the
    /// daemon refuses plugins in a directory others can write to.
    var pluginDirectory: String { canonicalDirectory + "/plugins" }

    /// The test directory without symbolic links or doubled slashes, as the daemon reports paths.
    var canonicalDirectory: String {
        guard let real = realpath(directory, nil) else { return directory }
        defer { free(real) }
        return String(cString: real)
    }

    override func setUp() {
        super.setUp()
        mkdir(pluginDirectory, 0o755)
        chmod(pluginDirectory, 0o755)
    }

    static var repositoryRoot: String {
        var dir = URL(fileURLWithPath: #filePath)
        while dir.lastPathComponent != "Tests" { dir.deleteLastPathComponent() }
        return dir.deletingLastPathComponent().path
    }

    static var compiler: String {
        ["/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang", "/opt/swift/usr/bin/clang"]
            .first { FileManager.default.isExecutableFile(atPath: $0) } ?? "cc"
    }

    /// Compiles Tests/PluginFixtures/ctest_plugin.c with `defines` into `plugins/NAME` (a new file
    /// renamed into place, as a package upgrade does: running workers keep the old one mapped).
    @discardableResult
    func compileCPlugin(_ name: String = "libctest.so", defines: [String] = [], file: StaticString = #filePath,
                        line: UInt = #line) throws -> String {
        let source = PluginTestCase.repositoryRoot + "/Tests/PluginFixtures/ctest_plugin.c"
        let include = PluginTestCase.repositoryRoot + "/Sources/CSocketServerPlugin/include"
        let temporary = pluginDirectory + "/.\(name).\(UUID().uuidString)"
        let log = directory + "/cc.log"
        let arguments = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", "-I", include]
            + defines.map { "-D" + $0 } + [source, "-o", temporary]
        let pid = try spawn(PluginTestCase.compiler, arguments, env: ["PATH=/usr/bin:/bin"], stdout: log, stderr: log)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        guard status == 0 else {
            XCTFail("cc failed:\n\((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")", file: file, line: line)
            throw TestFailure.timeout("cc")
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

    private func install(_ temporary: String, as name: String) throws -> String {
        chmod(temporary, 0o644)
        let path = pluginDirectory + "/" + name
        guard rename(temporary, path) == 0 else { throw TestFailure.timeout("rename \(temporary)") }
        return path
    }

    /// `socketserverd --check-config --config PATH`: (exit status, stdout and stderr).
    func checkConfig(_ config: String) throws -> (Int32, String) {
        let path = writeConfig(config, to: configDirectory + "/check.conf")
        let output = directory + "/check-\(UUID().uuidString).txt"
        let pid = try spawn(DaemonProcess.binaryPath, ["--check-config", "--config", path], env: ["PATH=/usr/bin:/bin"],
                            stdout: output, stderr: output)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return ((status >> 8) & 0xff, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    /// `[daemon]` with this test's plugin_dir and the given plugins, by name → path.
    func pluginHeader(_ plugins: [(String, String)]) -> String {
        "[daemon]\ngraceful_timeout = 5\nplugin_dir = \(pluginDirectory)\n\n"
            + plugins.map { "[plugin \($0.0)]\npath = \($0.1)\n\n" }.joined()
    }

    /// The mapped files (paths) of process `pid`.
    func mappedFiles(_ pid: pid_t) -> Set<String> {
        // Read to the end by hand: /proc files report size 0, and one read may not bring it all.
        let fd = open("/proc/\(pid)/maps", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return [] }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            bytes += buffer[..<count]
        }
        let maps = String(decoding: bytes, as: UTF8.self)
        return Set(maps.split(separator: "\n").compactMap { line in
            line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(5).first.map(String.init)
        })
    }

    /// One line to a stream service and the reply lines it brings (until `lines` are in).
    func ask(port: Int, _ text: String, lines: Int = 1) throws -> String {
        let socket = try createConnection(host: "127.0.0.1", port: port, timeout: .seconds(5))
        defer { socket.close() }
        return try ask(socket, text, lines: lines)
    }

    /// The same on a connection the caller keeps open.
    func ask(_ socket: Socket, _ text: String, lines: Int = 1) throws -> String {
        try socket.sendAll(text)
        var received: [UInt8] = []
        while received.filter({ $0 == UInt8(ascii: "\n") }).count < lines {
            let chunk = try socket.recv(4096)
            if chunk.isEmpty { break }
            received += chunk
        }
        return String(decoding: received, as: UTF8.self)
    }
}
