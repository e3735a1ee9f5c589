// The base of the daemon's integration tests: a test directory, daemons started on configs
// written there (with sockets passed by activation), and a tearDown that leaves nothing behind.
import Glibc
import SocketServer
import XCTest

/// A test's daemons with their directory; `tearDown` stops them and removes the directory.
open class DaemonTestCase: XCTestCase {
    /// The test's directory, 0777: run as root, the daemon's workers become "nobody" and must still
    /// reach the test's files.
    public var directory = ""
    /// Where the test's config files go: `directory/etc`, 0755. The daemon refuses config files in
    /// a directory group or others can write.
    public var configDirectory: String { directory + "/etc" }
    /// The config `startDaemon` writes.
    public var configPath: String { configDirectory + "/socketserverd.conf" }
    public var daemons: [DaemonProcess] = []
    private var uniqueSleeps = 0

    open override func setUpWithError() throws {
        try super.setUpWithError()
        directory = try makeTemporaryDirectory()
        chmod(directory, 0o777)
        mkdir(configDirectory, 0o755)
        chmod(configDirectory, 0o755)
    }

    open override func tearDown() {
        for daemon in daemons { daemon.stop() }
        daemons = []
        ChildReaping.reapAll()
        XCTAssertEqual(childPIDs(), [], "processes left behind")
        for report in Sanitizers.takeReports() { XCTFail("sanitizer report from a spawned process: \(report)") }
        removeTree(directory)
        super.tearDown()
    }

    // MARK: - Starting daemons

    /// Writes `config` (raw text) to `configPath` and starts a daemon on it, waiting for READY
    /// unless `ready` is false.
    public func startDaemon(_ config: String, environment: [String: String] = [:], notifyPath: String? = nil,
                            wrapper: String = "", binary: String = DaemonProcess.binaryPath, ready: Bool = true,
                            file: StaticString = #filePath, line: UInt = #line) throws -> DaemonProcess {
        try startDaemon(configAt: writeConfig(config, to: configPath), passing: nil, environment: environment, notifyPath: notifyPath,
                        wrapper: wrapper, binary: binary, ready: ready, file: file, line: line)
    }

    /// Binds the sockets `config`'s services listen on, writes the config to `path` (with `mode`)
    /// and starts a daemon on it with those sockets passed (their ports are in `passedPorts`).
    public func startDaemon(_ config: DaemonConfigBuilder, at path: String? = nil, mode: mode_t = 0o644,
                            environment: [String: String] = [:], notifyPath: String? = nil, wrapper: String = "",
                            binary: String = DaemonProcess.binaryPath, ready: Bool = true,
                            file: StaticString = #filePath, line: UInt = #line) throws -> DaemonProcess {
        let sockets = try PassedSockets(for: config.services)
        defer { sockets.close() }
        let written = writeFile(try config.text(ports: sockets.ports), to: path ?? configPath, mode: mode)
        return try startDaemon(configAt: written, passing: sockets, environment: environment, notifyPath: notifyPath,
                               wrapper: wrapper, binary: binary, ready: ready, file: file, line: line)
    }

    /// `startDaemon` for a config of `service`s with `daemon` keys.
    public func startDaemon(service: Service..., daemon: ConfigKeys = [:], plugins: [(name: String, path: String)] = [],
                            environment: [String: String] = [:], wrapper: String = "", ready: Bool = true,
                            file: StaticString = #filePath, line: UInt = #line) throws -> DaemonProcess {
        try startDaemon(DaemonConfigBuilder(daemon: daemon, plugins: plugins, services: service), environment: environment,
                        wrapper: wrapper, ready: ready, file: file, line: line)
    }

    /// Starts a daemon on the config already at `path`, passing `sockets` (bound for the services
    /// of that config and the files it includes); waits for READY unless `ready` is false.
    public func startDaemon(configAt path: String, passing sockets: PassedSockets?, environment: [String: String] = [:],
                            notifyPath: String? = nil, wrapper: String = "", binary: String = DaemonProcess.binaryPath,
                            ready: Bool = true, file: StaticString = #filePath, line: UInt = #line) throws -> DaemonProcess {
        let daemon = try DaemonProcess(configPath: path, directory: directory, environment: environment, notifyPath: notifyPath,
                                       passing: sockets?.descriptors ?? [], wrapper: wrapper, binary: binary)
        daemon.passedPorts = sockets?.bound.map { ($0.service, $0.port) } ?? []
        daemons.append(daemon)
        if ready { try daemon.waitReady(file: file, line: line) }
        return daemon
    }

    /// Rewrites the config file (for reload tests).
    public func rewriteConfig(_ config: String) {
        writeConfig(config, to: configPath)
    }

    /// Rewrites the config file with `config`, its services on the sockets passed to `daemon`.
    public func rewriteConfig(_ config: DaemonConfigBuilder, for daemon: DaemonProcess) throws {
        writeConfig(try config.text(ports: daemon.ports), to: configPath)
    }

    // MARK: - Files and programs

    /// A directory in the test directory with `mode` (0777: the workers, maybe "nobody", write there).
    public func makeDirectory(_ name: String, mode: mode_t = 0o777) -> String {
        let path = directory + "/" + name
        mkdir(path, mode)
        chmod(path, mode)
        return path
    }

    /// An executable script in the test directory.
    public func script(_ name: String, _ text: String) -> String {
        writeScript(text, to: directory + "/" + name)
    }

    /// `socketserverd ARGUMENTS` run to its end (in `workingDirectory` if given).
    public func runDaemonBinary(_ arguments: [String], in workingDirectory: String? = nil,
                                file: StaticString = #filePath, line: UInt = #line) throws -> ProcessOutput {
        let result = try runProgram(DaemonProcess.binaryPath, arguments, in: workingDirectory)
        XCTAssertNotNil(result.status, "socketserverd \(arguments.joined(separator: " ")) did not exit within 20 s:\n\(result.stderr)",
                        file: file, line: line)
        return result
    }

    /// `socketserverd --check-config --config PATH` on `config` written as `name` in the config directory.
    public func checkConfig(_ config: String, name: String = "check.conf", file: StaticString = #filePath,
                            line: UInt = #line) throws -> ProcessOutput {
        try runDaemonBinary(["--check-config", "--config", writeConfig(config, to: configDirectory + "/" + name)], file: file, line: line)
    }

    // MARK: - Processes

    /// A `sleep N` command line unique to this run (N from the test directory's name and a counter),
    /// so that no other process on the machine is mistaken for the one a test started.
    public func uniqueSleep() -> String {
        uniqueSleeps += 1
        return "sleep \(1_000_000 + abs(directory.hashValue % 800_000) + uniqueSleeps)"  // 7 digits
    }

    /// Waits until no process's command line contains `text` (reaping what the test adopted).
    public func waitForNoProcess(matching text: String, within limit: Duration = .seconds(5)) -> Bool {
        eventually(within: limit, every: .milliseconds(50)) {
            ChildReaping.reapEnded(sparing: daemons.map(\.pid))
            return !processExists(matching: text)
        }
    }
}
