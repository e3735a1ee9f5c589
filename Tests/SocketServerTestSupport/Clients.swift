// Small clients: connect, round trips over streams and datagrams, reading to the end or to a
// count, and probing whether a port still accepts.
import Glibc
import SocketServer
import XCTest

/// The limit for every blocking client step, so a broken server fails a test instead of hanging it.
public let ioTimeout: Duration = .seconds(10)

/// A TCP client connected to `host`:`port`.
public func connectTCP(port: Int, host: String = "127.0.0.1", timeout: Duration = ioTimeout) throws -> Socket {
    try createConnection(host: host, port: port, timeout: timeout)
}

/// A stream client connected to `address` (TCP or Unix).
public func connectClient(_ address: SocketAddress, timeout: Duration = ioTimeout) throws -> Socket {
    try createConnection(to: address, timeout: timeout)
}

/// Reads until the peer closes its side.
public func readAll(_ socket: Socket) throws -> [UInt8] {
    var result: [UInt8] = []
    while true {
        let chunk = try socket.recv(65536)
        if chunk.isEmpty { return result }
        result += chunk
    }
}

/// Reads until the peer closes its side, as text.
public func readAllText(_ socket: Socket) throws -> String {
    String(decoding: try readAll(socket), as: UTF8.self)
}

/// Reads exactly `count` bytes, or fewer if the peer closes first.
public func readExactly(_ socket: Socket, _ count: Int) throws -> [UInt8] {
    var result: [UInt8] = []
    while result.count < count {
        let chunk = try socket.recv(count - result.count)
        if chunk.isEmpty { break }
        result += chunk
    }
    return result
}

/// Reads one `\n`-terminated line (or what comes before the end), byte by byte: replies are short.
public func readLine(_ socket: Socket) throws -> String {
    var line: [UInt8] = []
    while true {
        let byte = try socket.recv(1)
        if byte.isEmpty { break }
        line += byte
        if byte == [UInt8(ascii: "\n")] { break }
    }
    return String(decoding: line, as: UTF8.self)
}

/// Sends `text` on an open connection and reads replies until `lines` lines are in.
public func ask(_ socket: Socket, _ text: String, lines: Int = 1) throws -> String {
    try socket.sendAll(text)
    var received: [UInt8] = []
    while received.filter({ $0 == UInt8(ascii: "\n") }).count < lines {
        let chunk = try socket.recv(4096)
        if chunk.isEmpty { break }
        received += chunk
    }
    return String(decoding: received, as: UTF8.self)
}

/// The same over a new TCP connection to `port`.
public func ask(port: Int, _ text: String, lines: Int = 1, host: String = "127.0.0.1", timeout: Duration = ioTimeout) throws -> String {
    let socket = try connectTCP(port: port, host: host, timeout: timeout)
    defer { socket.close() }
    return try ask(socket, text, lines: lines)
}

/// One round trip over a new TCP connection: `message` out, then what comes back until at least
/// as many bytes are in (all of a longer reply that arrives at once) or the server closes.
public func tcpRoundTrip(port: Int, _ message: String = "hello\n", host: String = "127.0.0.1",
                         timeout: Duration = ioTimeout) throws -> String {
    let socket = try connectTCP(port: port, host: host, timeout: timeout)
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

/// Connects, sends `bytes`, half-closes and returns everything the server sent back.
public func streamExchange(_ address: SocketAddress, _ bytes: [UInt8], timeout: Duration = ioTimeout) throws -> [UInt8] {
    let client = try connectClient(address, timeout: timeout)
    defer { client.close() }
    try client.sendAll(bytes)
    try client.shutdown(.write)
    return try readAll(client)
}

public func streamExchange(_ address: SocketAddress, _ text: String, timeout: Duration = ioTimeout) throws -> String {
    String(decoding: try streamExchange(address, Array(text.utf8), timeout: timeout), as: UTF8.self)
}

/// Sends one datagram to `address` and returns the reply, checking that it comes from `address`.
/// A Unix datagram client binds `clientPath` (a reply needs an address to go to), mode 0666 since
/// the daemon's workers may run as another user.
public func datagramExchange(_ address: SocketAddress, _ bytes: [UInt8], clientPath: String? = nil, timeout: Duration = ioTimeout,
                             file: StaticString = #filePath, line: UInt = #line) throws -> [UInt8] {
    let client = try Socket(family: address.family, type: .datagram)
    defer { client.close() }
    try client.setTimeout(timeout)
    if address.family == .unix {
        guard let clientPath else { throw SocketError.invalidAddress("a unix datagram client needs a path") }
        try client.bind(.unix(path: clientPath))
        chmod(clientPath, 0o666)
    }
    try client.sendTo(bytes, address)
    let (reply, from) = try client.recvFrom(65536)
    XCTAssertEqual(from, address, "the reply comes from the server's address", file: file, line: line)
    return reply
}

public func datagramExchange(_ address: SocketAddress, _ text: String, clientPath: String? = nil, timeout: Duration = ioTimeout,
                             file: StaticString = #filePath, line: UInt = #line) throws -> String {
    String(decoding: try datagramExchange(address, Array(text.utf8), clientPath: clientPath, timeout: timeout, file: file, line: line),
           as: UTF8.self)
}

/// An unbound UDP socket for a client, its calls bounded by `timeout`.
public func udpClient(timeout: Duration = ioTimeout) throws -> Socket {
    let socket = try Socket(family: .inet, type: .datagram)
    try socket.setTimeout(timeout)
    return socket
}

/// A datagram round trip to 127.0.0.1:`port`.
public func udpRoundTrip(port: Int, _ text: String, timeout: Duration = ioTimeout,
                         file: StaticString = #filePath, line: UInt = #line) throws -> String {
    try datagramExchange(.inet(host: "127.0.0.1", port: port), text, timeout: timeout, file: file, line: line)
}

/// True once nothing accepts on 127.0.0.1:`port` (a connection is refused) within `limit`.
public func waitUntilRefused(port: Int, within limit: Duration = .seconds(10)) -> Bool {
    eventually(within: limit, every: .milliseconds(20)) {
        guard let socket = try? Socket(family: .inet, type: .stream) else { return false }
        defer { socket.close() }
        return (try? socket.connectEx(.inet(host: "127.0.0.1", port: port))) == ECONNREFUSED
    }
}

/// A connection that the client resets (SO_LINGER 0, then close) as soon as it is established.
public func connectAndReset(port: Int) throws {
    let socket = try connectTCP(port: port, timeout: .seconds(5))
    var option = linger(l_onoff: 1, l_linger: 0)
    guard setsockopt(socket.fileno(), SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size)) == 0 else {
        let code = errno
        socket.close()
        throw SocketError.system(call: "setsockopt SO_LINGER", errno: code)
    }
    socket.close()
}

/// A loopback address with port 0 (the kernel picks a free port).
public let loopback4 = SocketAddress.inet(host: "127.0.0.1", port: 0)

/// A listening TCP socket on 127.0.0.1 with a kernel-chosen port.
public func loopbackListener() throws -> Socket {
    let socket = try Socket(family: .inet, type: .stream)
    try socket.bind(loopback4)
    try socket.listen()
    return socket
}

/// True if IPv6 loopback can be bound here.
public var hasIPv6Loopback: Bool {
    guard let probe = try? Socket(family: .inet6, type: .stream) else { return false }
    defer { probe.close() }
    return (try? probe.bind(.inet6(host: "::1", port: 0))) != nil
}

/// Skips the test unless IPv6 loopback can be bound.
public func requireIPv6() throws {
    try XCTSkipUnless(hasIPv6Loopback, "no IPv6 loopback here")
}
