// Temp dirs, free ports, configs and small clients for the daemon's integration tests.
import Foundation
import SocketServer
import XCTest

/// A fresh temporary directory, removed by `cleanup()`.
func makeTemporaryDirectory(_ name: String = "ssd") -> String {
    var template = Array((NSTemporaryDirectory() + "/\(name)-XXXXXX").utf8CString)
    let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    return path
}

/// A port that was free a moment ago, for TCP and UDP alike (bound with port 0, then released).
/// Ports handed out are remembered so two calls in one run never return the same one.
func freePort() -> Int {
    while true {
        guard let tcp = try? Socket(family: .inet, type: .stream),
              (try? tcp.bind(.inet(host: "127.0.0.1", port: 0))) != nil,
              let port = tcp.getSockNameOrNil?.port else { continue }
        let udp = try? Socket(family: .inet, type: .datagram)
        if (try? udp?.bind(.inet(host: "127.0.0.1", port: port))) == nil { continue }
        let fresh = PortLedger.shared.claim(Int(port))
        if fresh { return Int(port) }
    }
}

final class PortLedger: @unchecked Sendable {
    static let shared = PortLedger()
    private var used: Set<Int> = []
    private let lock = NSLock()
    func claim(_ port: Int) -> Bool { lock.withLock { used.insert(port).inserted } }
}

extension Socket {
    var getSockNameOrNil: SocketAddress? { try? getSockName() }
}

/// Writes a file (mode 0644 whatever the umask: a config file must not be writable by group or
/// others) and returns its path.
@discardableResult
func writeConfig(_ text: String, to path: String) -> String {
    _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    chmod(path, 0o644)
    return path
}

/// Waits for `pid` (spawned in its own process group) to exit; its exit code, or nil if it did not
/// exit within `timeout` (its group is then killed and it is reaped).
func exitCode(of pid: pid_t, timeout: TimeInterval = 20) -> Int32? {
    let deadline = Date().addingTimeInterval(timeout)
    var status: Int32 = 0
    while waitpid(pid, &status, WNOHANG) == 0 {
        guard Date() < deadline else {
            kill(-pid, SIGKILL)
            waitpid(pid, &status, 0)
            return nil
        }
        usleep(10_000)
    }
    return (status >> 8) & 0xff
}

/// One echo round trip over a new TCP connection; throws on any failure.
func tcpRoundTrip(port: Int, _ message: String = "hello\n", host: String = "127.0.0.1", timeout: Duration = .seconds(5)) throws -> String {
    let socket = try createConnection(host: host, port: port, timeout: timeout)
    defer { socket.close() }
    try socket.sendAll(message)
    var received: [UInt8] = []
    while received.count < message.utf8.count {
        let chunk = try socket.recv(4096)
        if chunk.isEmpty { break }
        received += chunk
    }
    return String(decoding: received, as: UTF8.self)
}

/// Reads until the peer closes (daytime and friends).
func readAll(_ socket: Socket) throws -> [UInt8] {
    var received: [UInt8] = []
    while true {
        let chunk = try socket.recv(4096)
        if chunk.isEmpty { return received }
        received += chunk
    }
}

/// A datagram round trip to `address` from a socket bound to `local` (needed for unixgram replies).
func datagramRoundTrip(_ address: SocketAddress, _ message: String, local: SocketAddress? = nil,
                       timeout: Duration = .seconds(5)) throws -> String {
    let socket = try Socket(family: address.family, type: .datagram)
    defer { socket.close() }
    if let local {
        try socket.bind(local)
        if case .unix(let path) = local { chmod(path, 0o666) }  // the daemon may run as "nobody"
    }
    try socket.setTimeout(timeout)
    try socket.sendTo(Array(message.utf8), address)
    let (data, _) = try socket.recvFrom(65536)
    return String(decoding: data, as: UTF8.self)
}

/// A test's daemon with its directory; `tearDown` stops it and removes the directory.
class DaemonTestCase: XCTestCase {
    var directory = ""
    /// Where the test's config files go: `directory/etc`, 0755. The daemon refuses config files in
    /// a directory group or others can write, and `directory` itself is 0777.
    var configDirectory: String { directory + "/etc" }
    var daemons: [DaemonProcess] = []
    private var uniqueSleeps = 0

    override func setUp() {
        super.setUp()
        directory = makeTemporaryDirectory()
        // Run as root, the daemon's workers become "nobody": they must still reach the test's files.
        chmod(directory, 0o777)
        mkdir(configDirectory, 0o755)
        chmod(configDirectory, 0o755)
    }

    override func tearDown() {
        for daemon in daemons { daemon.stop() }
        daemons = []
        DaemonProcess.reapOrphans()
        XCTAssertEqual(DaemonProcess.childPIDs(), [], "processes left behind")
        for report in Sanitizers.takeReports() { XCTFail("sanitizer report from a spawned process: \(report)") }
        try? FileManager.default.removeItem(atPath: directory)
        super.tearDown()
    }

    /// Writes `config` and starts a daemon on it, waiting for READY.
    func startDaemon(_ config: String, file: StaticString = #filePath, line: UInt = #line) throws -> DaemonProcess {
        let path = writeConfig(config, to: configDirectory + "/socketserverd.conf")
        let daemon = try DaemonProcess(configPath: path, directory: directory)
        daemons.append(daemon)
        try daemon.waitReady(file: file, line: line)
        return daemon
    }

    /// A `sleep N` command line unique to this run (N from the test directory's name and a counter),
    /// so that no other process on the machine is mistaken for the one a test started.
    func uniqueSleep() -> String {
        uniqueSleeps += 1
        return "sleep \(1_000_000 + abs(directory.hashValue % 800_000) + uniqueSleeps)"  // 7 digits
    }

    /// Waits until no process's command line contains `text` (reaping what the test adopted).
    func waitForNoProcess(matching text: String, timeout: TimeInterval = 5) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            DaemonProcess.reapAdopted(sparing: daemons.map(\.pid))
            if !processExists(matching: text) { return true }
            usleep(50_000)
        }
        return false
    }

    func processExists(matching text: String) -> Bool {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.contains { entry in
            guard Int(entry) != nil, let cmd = try? String(contentsOfFile: "/proc/\(entry)/cmdline", encoding: .utf8) else { return false }
            return cmd.replacingOccurrences(of: "\0", with: " ").contains(text)
        }
    }

    /// Rewrites the config file (for reload tests).
    func rewriteConfig(_ config: String) {
        writeConfig(config, to: configDirectory + "/socketserverd.conf")
    }
}

/// Waits until nothing accepts on `port` any more; true if that happened within `timeout`.
func waitUntilRefused(port: Int, timeout: TimeInterval = 10) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        guard let socket = try? Socket(family: .inet, type: .stream) else { return false }
        let code = try? socket.connectEx(.inet(host: "127.0.0.1", port: UInt16(port)))
        socket.close()
        if code == ECONNREFUSED { return true }
        usleep(20_000)
    }
    return false
}
