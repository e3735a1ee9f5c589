// TCPServer: a connection-oriented server for TCP over IPv4 or IPv6 (and, as UnixStreamServer, Unix).
#if canImport(Glibc)
import Glibc
#endif

/// A stream server. The address family follows the address (`127.0.0.1` → IPv4, `::1` → IPv6).
/// With `bindAndActivate: false`, set `allowReuseAddress`, `allowReusePort` or `requestQueueSize`,
/// then call `serverBind()` and `serverActivate()` yourself.
open class TCPServer: BaseServer, @unchecked Sendable {
    /// The server's socket.
    public let socket: Socket
    /// Sets SO_REUSEADDR before binding (Python's `allow_reuse_address`, default false).
    public var allowReuseAddress = false
    /// Sets SO_REUSEPORT before binding (Python's `allow_reuse_port`, default false).
    public var allowReusePort = false
    /// The listen backlog (Python's `request_queue_size`, default 5).
    public var requestQueueSize: Int32 = 5
    /// Set by a concurrency that accepts on an event loop: `getRequest` hands out non-blocking
    /// descriptors (the socket's timeout semantics are unchanged).
    var acceptsNonBlocking = false
    /// Set when the listener has TCP_NODELAY, which the connections it accepts inherit.
    var acceptsNoDelay = false

    /// The socket type the server opens; datagram servers override it.
    open class var socketType: SocketType { .stream }
    /// The concurrency a server of this class gets when none is given; the Threading… and Forking…
    /// classes override it.
    open class func makeConcurrency() -> any RequestConcurrency { SynchronousRequests() }

    /// Opens a socket for `address` and, unless told not to, binds and activates it.
    /// A failure closes the socket before the error is thrown.
    public init(
        _ address: SocketAddress, _ handler: BaseRequestHandler.Type,
        concurrency: (any RequestConcurrency)? = nil, bindAndActivate: Bool = true
    ) throws {
        socket = try Socket(family: address.family, type: Self.socketType)
        try super.init(serverAddress: address, handler: handler, concurrency: concurrency ?? Self.makeConcurrency())
        if bindAndActivate {
            do {
                try serverBind()
                try serverActivate()
            } catch {
                serverClose()
                throw error
            }
        }
    }

    /// Serves on a socket that is already bound (and, for streams, listening): for example one
    /// inherited from a parent process or passed by systemd.
    public init(socket: Socket, _ handler: BaseRequestHandler.Type, concurrency: (any RequestConcurrency)? = nil) throws {
        self.socket = socket
        try super.init(serverAddress: try socket.getSockName(), handler: handler, concurrency: concurrency ?? Self.makeConcurrency())
        try socket.setNonBlockingFlag(true)
    }

    /// `TCPServer(("127.0.0.1", 9999), Handler.self)`, as in Python. A host name resolves to an
    /// IPv4 address when it has one (Python's `address_family` is AF_INET), else to IPv6; a
    /// numeric IPv6 host (`"::1"`) makes an IPv6 server.
    public convenience init(
        _ address: HostAndPort, _ handler: BaseRequestHandler.Type,
        concurrency: (any RequestConcurrency)? = nil, bindAndActivate: Bool = true
    ) throws {
        let resolved: SocketAddress
        do {
            resolved = try SocketAddress(host: address.host, port: address.port, family: .inet)
        } catch .resolution {
            resolved = try SocketAddress(host: address.host, port: address.port)
        }
        try self.init(resolved, handler, concurrency: concurrency, bindAndActivate: bindAndActivate)
    }

    /// Sets the reuse options and binds; `serverAddress` becomes the real bound address.
    open func serverBind() throws {
        if allowReuseAddress, socket.family != .unix { try socket.setOption(.reuseAddress, true) }
        if allowReusePort, socket.family != .unix { try socket.setOption(.reusePort, true) }
        try socket.bind(serverAddress)
        serverAddress = try socket.getSockName()
    }

    /// Listens. The descriptor is made non-blocking so that several processes can share it: the
    /// loop polls, and a connection another process took first is simply not there.
    override open func serverActivate() throws {
        try socket.listen(requestQueueSize)
        try socket.setNonBlockingFlag(true)
    }

    override open func serverClose() {
        socket.close()
        super.serverClose()
    }

    override open func fileno() -> Int32 { socket.fileno() }

    override open var socketTimeout: Duration? { socket.timeout }

    override open func getRequest() throws -> Request? {
        guard let (client, address) = try socket.acceptIfReady(nonBlocking: acceptsNonBlocking) else { return nil }
        return Request(socket: client, clientAddress: address)
    }

    /// Shuts down the write side (the client sees end of file) and closes the connection. Once
    /// the client's end of file was read, close alone does that: the shutdown is skipped (no other
    /// process holds the connection then; a forking server's parent closed its copy at once).
    override open func shutdownRequest(_ request: Request) {
        if !request.socket.peerEnded.load(ordering: .relaxed) { try? request.socket.shutdown(.write) }
        closeRequest(request)
    }

    override open func closeRequest(_ request: Request) {
        request.socket.close()
    }
}
