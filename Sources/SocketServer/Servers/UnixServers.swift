// Unix-domain servers: the stream and datagram servers over AF_UNIX paths.

/// A stream server on a Unix socket path. The socket file is not removed on close (as in Python);
/// remove it yourself, or let the daemon do it.
open class UnixStreamServer: TCPServer, @unchecked Sendable {
    /// `UnixStreamServer("/run/app.sock", Handler.self)`, as in Python.
    public convenience init(_ path: String, _ handler: BaseRequestHandler.Type, concurrency: (any RequestConcurrency)? = nil) throws {
        try self.init(.unix(path: path), handler, concurrency: concurrency)
    }

    /// `UnixStreamServer(path: "/run/app.sock", Handler.self)`.
    public convenience init(path: String, _ handler: BaseRequestHandler.Type, bindAndActivate: Bool = true) throws {
        try self.init(.unix(path: path), handler, bindAndActivate: bindAndActivate)
    }
}

/// A datagram server on a Unix socket path. Clients must bind an address of their own to get replies.
open class UnixDatagramServer: UDPServer, @unchecked Sendable {
    /// `UnixDatagramServer("/run/app.dgram", Handler.self)`, as in Python.
    public convenience init(_ path: String, _ handler: BaseRequestHandler.Type, concurrency: (any RequestConcurrency)? = nil) throws {
        try self.init(.unix(path: path), handler, concurrency: concurrency)
    }

    /// `UnixDatagramServer(path: "/run/app.dgram", Handler.self)`.
    public convenience init(path: String, _ handler: BaseRequestHandler.Type, bindAndActivate: Bool = true) throws {
        try self.init(.unix(path: path), handler, bindAndActivate: bindAndActivate)
    }
}
