// Python's `host, port = server.server_address`: `let (host, port) = server.serverAddress`.

/// What gives every server a second `serverAddress`, Python's `(host, port)` tuple. Swift picks
/// it where a tuple is wanted (`let (host, port) = server.serverAddress`) and the
/// `SocketAddress` everywhere else (`print(server.serverAddress)`, `server.serverAddress.port`).
public protocol ServerAddressTuple: AnyObject {}

extension BaseServer: ServerAddressTuple {}

extension ServerAddressTuple where Self: BaseServer {
    /// The bound address as `(host, port)`; for a Unix server, the path and port 0. Disfavoured:
    /// chosen only where the `SocketAddress` does not fit.
    @_disfavoredOverload
    public var serverAddress: HostAndPort {
        let address: SocketAddress = (self as BaseServer).serverAddress
        return (address.host, address.port ?? 0)
    }
}
