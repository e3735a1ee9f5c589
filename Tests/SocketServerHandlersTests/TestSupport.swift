// Test servers that act as a HandlerHost, and small clients, for the built-in handler tests.
import Foundation
import Synchronization
import XCTest
import SocketServer
import SocketServerHandlers

#if canImport(Glibc)
import Glibc
#endif

/// What a test server records: its options, log lines and handler errors.
final class HostState: Sendable {
    let serviceName = "test"
    let options: [String: String]
    /// Applied to each accepted connection before the handler runs, as the daemon does.
    let socketTimeout: Duration?
    /// The service's `timeout` as a `HandlerHost` reports it (exec: how long a program may run).
    let idleTimeout: Duration?
    private let logLines = Mutex<[(level: LogLevel, message: String)]>([])
    private let errorLines = Mutex<[String]>([])
    private let problemLines = Mutex<[(problem: RequestProblem, message: String)]>([])

    init(options: [String: String], socketTimeout: Duration?, idleTimeout: Duration? = nil) {
        self.options = options
        self.socketTimeout = socketTimeout
        self.idleTimeout = idleTimeout
    }

    func record(_ level: LogLevel, _ message: String) { logLines.withLock { $0.append((level, message)) } }
    func recordError(_ error: any Error) { errorLines.withLock { $0.append("\(error)") } }
    /// A handler's `logProblem`: kept with its kind, and as an error line.
    func recordProblem(_ problem: RequestProblem, _ message: String) {
        problemLines.withLock { $0.append((problem, message)) }
        record(.error, message)
    }

    var logs: [(level: LogLevel, message: String)] { logLines.withLock { $0 } }
    var errors: [String] { errorLines.withLock { $0 } }
    var problems: [(problem: RequestProblem, message: String)] { problemLines.withLock { $0 } }
}

/// A threading TCP (or Unix stream, by address) server that is a HandlerHost.
final class HostStreamServer: TCPServer, HandlerHost, @unchecked Sendable {
    let state: HostState

    init(_ address: SocketAddress, _ handler: BaseRequestHandler.Type,
         options: [String: String] = [:], socketTimeout: Duration? = .seconds(10), idleTimeout: Duration? = nil) throws {
        state = HostState(options: options, socketTimeout: socketTimeout, idleTimeout: idleTimeout)
        try super.init(address, handler, concurrency: ThreadingMixIn())
    }

    var serviceName: String { state.serviceName }
    var options: [String: String] { state.options }
    var idleTimeout: Duration? { state.idleTimeout }
    func log(_ level: LogLevel, _ message: String) { state.record(level, message) }
    func logProblem(_ problem: RequestProblem, _ message: String) { state.recordProblem(problem, message) }

    override func getRequest() throws -> Request? {
        guard let request = try super.getRequest() else { return nil }
        if let idle = state.socketTimeout { try request.socket.setTimeout(idle) }
        return request
    }

    override func handleError(_ error: any Error, request: Request) { state.recordError(error) }
}

/// A UDP (or Unix datagram, by address) server that is a HandlerHost.
final class HostDatagramServer: UDPServer, HandlerHost, @unchecked Sendable {
    let state: HostState

    init(_ address: SocketAddress, _ handler: BaseRequestHandler.Type, options: [String: String] = [:],
         idleTimeout: Duration? = nil) throws {
        state = HostState(options: options, socketTimeout: nil, idleTimeout: idleTimeout)
        try super.init(address, handler)
    }

    var serviceName: String { state.serviceName }
    var options: [String: String] { state.options }
    var idleTimeout: Duration? { state.idleTimeout }
    func log(_ level: LogLevel, _ message: String) { state.record(level, message) }

    override func handleError(_ error: any Error, request: Request) { state.recordError(error) }
}

/// A server serving on a background thread until `stop()`.
final class Serving {
    let server: BaseServer
    private let thread: PosixThread

    init(_ server: BaseServer) throws {
        self.server = server
        thread = try PosixThread.start { try? server.serveForever(pollInterval: .milliseconds(50)) }
    }

    func stop() {
        server.shutdown()
        server.serverClose()
        thread.join()
    }
}

/// How long any client call may block before the test fails instead of hanging.
let clientTimeout: Duration = .seconds(10)

/// Connects a stream client to `address`.
func connectClient(_ address: SocketAddress) throws -> Socket {
    let socket = try Socket(family: address.family, type: .stream)
    try socket.setTimeout(clientTimeout)
    try socket.connect(address)
    return socket
}

/// Reads until the server closes the connection.
func readToEnd(_ socket: Socket) throws -> [UInt8] {
    var result: [UInt8] = []
    while true {
        let chunk = try socket.recv(65536)
        if chunk.isEmpty { return result }
        result += chunk
    }
}

/// Reads exactly `count` bytes (fails the test on a premature end).
func readExactly(_ socket: Socket, _ count: Int) throws -> [UInt8] {
    var result: [UInt8] = []
    while result.count < count {
        let chunk = try socket.recv(count - result.count)
        if chunk.isEmpty { break }
        result += chunk
    }
    return result
}

/// Reads one `\n`-terminated line, byte by byte (replies are short).
func readLine(_ socket: Socket) throws -> String {
    var line: [UInt8] = []
    while true {
        let byte = try socket.recv(1)
        if byte.isEmpty { break }
        line += byte
        if byte == [UInt8(ascii: "\n")] { break }
    }
    return String(decoding: line, as: UTF8.self)
}

/// A fresh directory under /tmp, removed by `removeTemporaryDirectory`.
func makeTemporaryDirectory() throws -> String {
    var template = Array("/tmp/ssd-handlers-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw SocketError.system(call: "mkdtemp", errno: errno) }
    return String(cString: made)
}

func removeTemporaryDirectory(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// The directory's entries (dot files included), sorted.
func listing(_ path: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
}

/// Pseudo-random bytes from a fixed seed.
func patternBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
}

/// JSON text for a string, escaping quotes, backslashes and control characters.
func jsonString(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where scalar.value < 0x20: out += "\\u" + String(format: "%04x", scalar.value)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}

/// One upload frame: 4-byte little-endian length, the header bytes, then the content.
func uploadFrame(header: [UInt8], content: [UInt8] = []) -> [UInt8] {
    let length = UInt32(header.count)
    return [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24)] + header + content
}

/// A `put` frame for `name` with `content`; `filesize` overrides the declared size (as raw JSON).
func putFrame(_ name: String, _ content: [UInt8], filesize: String? = nil) -> [UInt8] {
    let header = "{\"cmd\": \"put\", \"filename\": \(jsonString(name)), \"filesize\": \(filesize ?? String(content.count))}"
    return uploadFrame(header: Array(header.utf8), content: content)
}
