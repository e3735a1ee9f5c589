// Reading the daemon's access log back (logfmt lines), and the clients the limit tests use: from
// another loopback address, held open, and told apart from a refused one.
import Glibc
import SocketServer
import XCTest

/// One access log line's fields: `ts`, `service`, `client`, `worker`, `duration`, `bytes_in`,
/// `bytes_out`, `result`.
public struct AccessLogLine: Equatable {
    public let fields: [String: String]
    public let text: String

    /// Parses `key=value key="quoted value"` pairs; nil if the text is not logfmt.
    public init?(_ text: String) {
        var fields: [String: String] = [:]
        var rest = Substring(text)
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " }
            guard let equals = rest.firstIndex(of: "=") else { return nil }
            let key = String(rest[..<equals])
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var escaped = false
                while let character = rest.first {
                    rest = rest.dropFirst()
                    if escaped { value.append(character == "n" ? "\n" : character); escaped = false }
                    else if character == "\\" { escaped = true }
                    else if character == "\"" { break }
                    else { value.append(character) }
                }
            } else {
                let end = rest.firstIndex(of: " ") ?? rest.endIndex
                value = String(rest[..<end])
                rest = rest[end...]
            }
            guard !key.isEmpty, fields[key] == nil else { return nil }
            fields[key] = value
        }
        self.fields = fields
        self.text = text
    }

    public subscript(_ key: String) -> String? { fields[key] }
    public var service: String? { fields["service"] }
    public var client: String? { fields["client"] }
    public var result: String? { fields["result"] }
    public var bytesIn: Int? { fields["bytes_in"].flatMap { Int($0) } }
    public var bytesOut: Int? { fields["bytes_out"].flatMap { Int($0) } }
    public var worker: pid_t? { fields["worker"].flatMap { pid_t($0) } }
    public var duration: Double? { fields["duration"].flatMap { Double($0) } }

    /// The client's port (the part after the last colon).
    public var clientPort: Int? { client?.split(separator: ":").last.flatMap { Int($0) } }
}

/// Every line of the access log at `path`; a line that is not logfmt fails the test.
public func accessLogLines(_ path: String, file: StaticString = #filePath, line: UInt = #line) -> [AccessLogLine] {
    readText(path).split(separator: "\n").compactMap { text in
        let parsed = AccessLogLine(String(text))
        if parsed == nil { XCTFail("not a logfmt line: \(text)", file: file, line: line) }
        return parsed
    }
}

/// Waits until the access log at `path` has a line for each of `ports` (by client port) and returns them.
public func waitForAccessLines(_ path: String, clientPorts ports: [Int], within limit: Duration = .seconds(10)) -> [Int: AccessLogLine] {
    var found: [Int: AccessLogLine] = [:]
    _ = eventually(within: limit, every: .milliseconds(20)) {
        found = [:]
        for entry in accessLogLines(path) { if let port = entry.clientPort, ports.contains(port) { found[port] = entry } }
        return found.count == Set(ports).count
    }
    return found
}

/// A TCP client to 127.0.0.1:`port` whose own address is `source` (another loopback address,
/// 127.0.0.2: Linux routes all of 127/8 to lo).
public func connectTCP(port: Int, from source: String, timeout: Duration = ioTimeout) throws -> Socket {
    try createConnection(host: "127.0.0.1", port: port, timeout: timeout, sourceAddress: .inet(host: source, port: 0))
}

/// The local port of a connected client.
public func localPort(_ socket: Socket) throws -> Int {
    guard case .inet(_, let port) = try socket.getSockName() else { throw TestFailure.setup("not an IPv4 socket") }
    return Int(port)
}

/// A connection to an echo service that is being served: a round trip proves the server took it.
public func heldEcho(port: Int, from source: String = "127.0.0.1", file: StaticString = #filePath, line: UInt = #line) throws -> Socket {
    let socket = try connectTCP(port: port, from: source)
    XCTAssertEqual(try ask(socket, "held\n"), "held\n", "a connection that should be served", file: file, line: line)
    return socket
}

/// True if the server closed the connection without a byte: end of file (or a reset) at the first read.
public func wasRefused(_ socket: Socket) -> Bool {
    do { return try socket.recv(64).isEmpty } catch { return error.errno == ECONNRESET }
}
