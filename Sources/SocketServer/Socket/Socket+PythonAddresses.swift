// The address forms Python's socket calls take, for every Socket call that takes an address:
// a `(host, port)` tuple and, for Unix sockets, a path.
#if canImport(Glibc)
import Glibc
#endif

/// Python's internet address: `("127.0.0.1", 9999)`, `("localhost", 0)`, `("", 8080)` (any
/// address), `("::1", 9999)`.
public typealias HostAndPort = (host: String, port: Int)

extension Socket {
    /// `address` as an address of this socket's family: a host name resolves to an address of
    /// that family only (Python's `connect(("localhost", port))` on an AF_INET socket), and `""`
    /// is the family's wildcard address.
    public func address(_ address: HostAndPort) throws(SocketError) -> SocketAddress {
        try SocketAddress(host: address.host, port: address.port, family: family == .unix ? .unspecified : family)
    }

    /// `bind(("127.0.0.1", 9999))`; `("", port)` binds every address of the socket's family.
    public func bind(_ address: HostAndPort) throws(SocketError) { try bind(self.address(address)) }
    /// `bind("/run/app.sock")`: a Unix socket's path (`"\0name"` for the abstract namespace).
    public func bind(_ path: String) throws(SocketError) { try bind(.unix(path: path)) }

    /// `connect(("127.0.0.1", 9999))`.
    public func connect(_ address: HostAndPort) throws(SocketError) { try connect(self.address(address)) }
    /// `connect("/run/app.sock")`.
    public func connect(_ path: String) throws(SocketError) { try connect(.unix(path: path)) }

    /// `connectEx(("127.0.0.1", 9999))`: 0 or the errno (Python's `connect_ex`).
    public func connectEx(_ address: HostAndPort) throws(SocketError) -> Int32 { try connectEx(self.address(address)) }
    /// `connectEx("/run/app.sock")`.
    public func connectEx(_ path: String) throws(SocketError) -> Int32 { try connectEx(.unix(path: path)) }

    /// `sendTo(data, ("127.0.0.1", 9999))` (Python's `sendto`); `data` may be a `String`.
    @discardableResult
    public func sendTo(_ bytes: some SocketBytes, _ address: HostAndPort, flags: Int32 = 0) throws(SocketError) -> Int {
        try sendTo(bytes, self.address(address), flags: flags)
    }

    /// `sendTo(data, "/run/app.dgram")`: one datagram to a Unix socket's path.
    @discardableResult
    public func sendTo(_ bytes: some SocketBytes, _ path: String, flags: Int32 = 0) throws(SocketError) -> Int {
        try sendTo(bytes, .unix(path: path), flags: flags)
    }
}

/// Connects a TCP socket to `(host, port)` (Python's `socket.create_connection(address, timeout,
/// source_address)`), trying each resolved address in turn.
public func createConnection(
    _ address: HostAndPort, timeout: Duration? = nil, sourceAddress: HostAndPort? = nil
) throws(SocketError) -> Socket {
    let source = try sourceAddress.map { (pair) throws(SocketError) in try SocketAddress(pair) }
    return try createConnection(host: address.host, port: address.port, timeout: timeout, sourceAddress: source)
}

/// Connects a Unix stream socket to `path`.
public func createConnection(_ path: String, timeout: Duration? = nil) throws(SocketError) -> Socket {
    try createConnection(to: .unix(path: path), timeout: timeout)
}
