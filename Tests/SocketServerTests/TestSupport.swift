// Shared helpers for the SocketServer tests: background serving, clients, temporary directories,
// descriptor and zombie accounting, and a runner for Python clients.
import CSocketServerShims
import Dispatch
import Glibc
@testable import SocketServer
import XCTest

/// The limit for every blocking client step, so a broken server fails a test instead of hanging it.
let ioTimeout: Duration = .seconds(5)

/// A value several threads share (over the library's `PosixMutex`, which ThreadSanitizer sees).
final class Locked<Value: Sendable>: Sendable {
    private let mutex: PosixMutex<Value>
    init(_ value: Value) { mutex = PosixMutex(value) }
    var value: Value { mutex.withLock { $0 } }
    func update<R>(_ body: (inout Value) -> R) -> R { mutex.withLock { body(&$0) } }
}

// MARK: - Serving in the background

/// A server running `serveForever` on its own thread. `stop()` shuts it down (bounded), joins the
/// thread and calls `serverClose()`.
final class BackgroundServer: @unchecked Sendable {
    let server: BaseServer
    private let thread: PosixThread
    private let finished = DispatchSemaphore(value: 0)
    private let loopError = Locked<String?>(nil)
    private var stopped = false
    private var loopExited = false

    init(_ server: BaseServer, pollInterval: Duration = .milliseconds(50)) throws {
        self.server = server
        let finished = finished
        let loopError = loopError
        thread = try PosixThread.start {
            do {
                try server.serveForever(pollInterval: pollInterval)
            } catch {
                loopError.update { $0 = "\(error)" }
            }
            finished.signal()
        }
    }

    /// Waits up to `limit` for `serveForever` to return by itself; true if it did.
    func loopExits(within limit: Duration) -> Bool {
        if loopExited { return true }
        loopExited = finished.wait(timeout: .now() + .milliseconds(Int(limit.roundedMilliseconds))) == .success
        return loopExited
    }

    /// Stops the loop within `limit`, joins the serving thread and (unless `close` is false) closes
    /// the server.
    func stop(close: Bool = true, limit: Duration = .seconds(10), file: StaticString = #filePath, line: UInt = #line) {
        guard !stopped else { return }
        stopped = true
        let server = server
        let shutdownDone = DispatchSemaphore(value: 0)
        if loopExited {
            shutdownDone.signal()  // a shutdown now would stay pending and stop the next serveForever
        } else {
            _ = try? PosixThread.start(detached: true) {
                server.shutdown()
                shutdownDone.signal()
            }
        }
        let deadline = DispatchTime.now() + .milliseconds(Int(limit.roundedMilliseconds))
        guard shutdownDone.wait(timeout: deadline) == .success, loopExited || finished.wait(timeout: deadline) == .success else {
            XCTFail("serveForever did not stop within \(limit)", file: file, line: line)
            return
        }
        thread.join()
        if close { server.serverClose() }
        if let error = loopError.value { XCTFail("serveForever threw: \(error)", file: file, line: line) }
    }
}

/// Serves `server` in the background while `body` runs, then stops and closes it.
func withServing<S: BaseServer, R>(
    _ server: S, pollInterval: Duration = .milliseconds(50),
    file: StaticString = #filePath, line: UInt = #line, _ body: (S) throws -> R
) throws -> R {
    let background = try BackgroundServer(server, pollInterval: pollInterval)
    defer { background.stop(file: file, line: line) }
    return try body(server)
}

// MARK: - Clients

/// A client socket connected to `address` with the test timeout set.
func connectClient(_ address: SocketAddress) throws -> Socket {
    try createConnection(to: address, timeout: ioTimeout)
}

/// Reads until the peer closes its side.
func receiveAll(_ socket: Socket) throws -> [UInt8] {
    var result: [UInt8] = []
    while true {
        let chunk = try socket.recv(65536)
        if chunk.isEmpty { return result }
        result += chunk
    }
}

/// Connects, sends `bytes`, half-closes and returns everything the server sent back.
func streamExchange(_ address: SocketAddress, _ bytes: [UInt8]) throws -> [UInt8] {
    let client = try connectClient(address)
    defer { client.close() }
    try client.sendAll(bytes)
    try client.shutdown(.write)
    return try receiveAll(client)
}

func streamExchange(_ address: SocketAddress, _ text: String) throws -> String {
    String(decoding: try streamExchange(address, Array(text.utf8)), as: UTF8.self)
}

/// Sends one datagram to `address` and returns the reply. Unix datagram clients bind `clientPath`
/// (replies need an address to go to).
func datagramExchange(_ address: SocketAddress, _ bytes: [UInt8], clientPath: String? = nil) throws -> [UInt8] {
    let client = try Socket(family: address.family, type: .datagram)
    defer { client.close() }
    try client.setTimeout(ioTimeout)
    if address.family == .unix {
        guard let clientPath else { throw SocketError.invalidAddress("a unix datagram client needs a path") }
        try client.bind(.unix(path: clientPath))
    }
    try client.sendTo(bytes, address)
    let (reply, from) = try client.recvFrom(65536)
    XCTAssertEqual(from, address, "the reply comes from the server's address")
    return reply
}

func datagramExchange(_ address: SocketAddress, _ text: String, clientPath: String? = nil) throws -> String {
    String(decoding: try datagramExchange(address, Array(text.utf8), clientPath: clientPath), as: UTF8.self)
}

/// A loopback address with port 0 (the kernel picks a free port).
let loopback4 = SocketAddress.inet(host: "127.0.0.1", port: 0)

/// Skips the test unless IPv6 loopback can be bound.
func requireIPv6() throws {
    do {
        let probe = try Socket(family: .inet6, type: .stream)
        defer { probe.close() }
        try probe.bind(.inet6(host: "::1", port: 0))
    } catch {
        throw XCTSkip("no IPv6 loopback here: \(error)")
    }
}

// MARK: - Temporary directories

/// A fresh directory under /tmp (short, so Unix socket paths fit), removed with its contents on deinit.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/sst-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw SocketError.system(call: "mkdtemp", errno: errno) }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { removeTree(path) }
}

/// Removes a file or a directory tree (like `rm -rf`).
func removeTree(_ path: String) {
    var info = stat()
    guard lstat(path, &info) == 0 else { return }
    guard (info.st_mode & S_IFMT) == S_IFDIR else { unlink(path); return }
    directoryEntries(path).forEach { removeTree(path + "/" + $0) }
    rmdir(path)
}

func fileExists(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0
}

// MARK: - Process accounting

/// Names of the directory's entries (no "." or "..").
func directoryEntries(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != ".", name != ".." { names.append(name) }
    }
    return names
}

/// This process's open descriptors and what they point to (from /proc/self/fd), without the
/// descriptor used to list them.
func openDescriptors() -> [Int32: String] {
    var result: [Int32: String] = [:]
    for name in directoryEntries("/proc/self/fd") {
        guard let fd = Int32(name) else { continue }
        var buffer = [CChar](repeating: 0, count: 4096)
        let count = readlink("/proc/self/fd/\(name)", &buffer, buffer.count - 1)
        guard count >= 0 else { continue }  // the listing's own descriptor, already closed
        let target = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if target.hasPrefix("/proc/") && target.hasSuffix("/fd") { continue }
        result[fd] = target
    }
    return result
}

/// Runs `body` and fails if it leaves descriptors open that were not open before.
func assertNoDescriptorLeak<R>(
    _ what: String = "", file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> R
) rethrows -> R {
    let before = openDescriptors()
    let result = try body()
    let after = openDescriptors()
    // The library never makes a timerfd; Dispatch does, lazily, the first time the test process
    // needs a timer (seen once in a forking test), and keeps it for the rest of the run.
    let leaked = after.filter { before[$0.key] != $0.value && $0.value != "anon_inode:[timerfd]" }
    XCTAssertTrue(leaked.isEmpty, "descriptors leaked \(what): \(leaked.sorted { $0.key < $1.key })", file: file, line: line)
    return result
}

/// The text of a small file, or nil.
func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count <= 0 { break }
        bytes += buffer[..<count]
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Children of this process that have exited but were not reaped (state Z in /proc/PID/stat).
func zombieChildren() -> [pid_t] {
    let me = getpid()
    var zombies: [pid_t] = []
    for name in directoryEntries("/proc") {
        guard let pid = pid_t(name), let stat = readSmallFile("/proc/\(name)/stat"),
              let close = stat.lastIndex(of: ")") else { continue }
        // After "(comm)": " STATE PPID ..."
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count >= 2, let ppid = pid_t(fields[1]) else { continue }
        if ppid == me, fields[0] == "Z" { zombies.append(pid) }
    }
    return zombies
}

/// Threads of this process right now.
func threadCount() -> Int {
    directoryEntries("/proc/self/task").count
}

/// Waits (bounded) until `condition` holds, polling. For states with no signal to wait on, such as
/// a thread having exited after signalling it was done.
func eventually(within limit: Duration = .seconds(5), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now.advanced(by: limit)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(5_000)
    }
    return condition()
}

extension Duration {
    var roundedMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

/// How long `body` takes.
func timed(_ body: () throws -> Void) rethrows -> Duration {
    let start = ContinuousClock.now
    try body()
    return ContinuousClock.now - start
}

// MARK: - Python clients

struct ProcessOutput {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// The Python interpreter tests run clients with, or a skip if there is none.
func pythonInterpreter() throws -> String {
    for candidate in ["/usr/bin/python3", "/usr/local/bin/python3"] where access(candidate, X_OK) == 0 {
        return candidate
    }
    for directory in (getenv("PATH").map { String(cString: $0) } ?? "").split(separator: ":") {
        let candidate = "\(directory)/python3"
        if access(candidate, X_OK) == 0 { return candidate }
    }
    throw XCTSkip("python3 is not installed")
}

/// Runs `python3 -c script args…` with posix_spawn, capturing its output; kills it after `limit`.
func runPython(_ script: String, _ arguments: [String], limit: Duration = .seconds(20)) throws -> ProcessOutput {
    let python = try pythonInterpreter()
    var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
    guard cssd_pipe_cloexec(&outPipe, 0) == 0, cssd_pipe_cloexec(&errPipe, 0) == 0 else {
        throw SocketError.system(call: "pipe2", errno: errno)
    }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
    posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
    let argv: [UnsafeMutablePointer<CChar>?] = ([python, "-c", script] + arguments).map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let code = posix_spawn(&pid, python, &actions, nil, argv, environ)
    close(outPipe[1])
    close(errPipe[1])
    defer { close(outPipe[0]); close(errPipe[0]) }
    guard code == 0 else { throw SocketError.system(call: "posix_spawn \(python)", errno: code) }

    var output: [Int32: [UInt8]] = [outPipe[0]: [], errPipe[0]: []]
    var open = [outPipe[0], errPipe[0]]
    let deadline = ContinuousClock.now.advanced(by: limit)
    var killed = false
    while !open.isEmpty {
        let left = ContinuousClock.now.duration(to: deadline)
        if left <= .zero { kill(pid, SIGKILL); killed = true; break }
        var entries = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        if poll(&entries, nfds_t(entries.count), Int32(clamping: left.roundedMilliseconds + 1)) < 0, errno != EINTR { break }
        for entry in entries where entry.revents != 0 {
            var buffer = [UInt8](repeating: 0, count: 65536)
            let count = read(entry.fd, &buffer, buffer.count)
            if count > 0 { output[entry.fd]! += buffer[..<count] } else { open.removeAll { $0 == entry.fd } }
        }
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0, errno == EINTR {}
    let exitStatus: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : -(status & 0x7f)
    let stderr = String(decoding: output[errPipe[0]]!, as: UTF8.self) + (killed ? "\n(killed after \(limit))" : "")
    return ProcessOutput(status: exitStatus, stdout: String(decoding: output[outPipe[0]]!, as: UTF8.self), stderr: stderr)
}
