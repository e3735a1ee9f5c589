// BaseRequestHandler: one instance per request; setup(), handle(), finish() (Python's BaseRequestHandler).

/// Subclass and override `handle()`. The server creates one instance per request and calls
/// `setup()`, `handle()` and `finish()`; `finish()` runs even when `handle()` throws.
open class BaseRequestHandler {
    /// The connected socket (stream servers) or the server's socket (datagram servers).
    public let request: Socket
    /// The datagram received (datagram servers); empty for stream servers.
    public let packet: [UInt8]
    /// The client's address.
    public let clientAddress: SocketAddress
    /// The server that received the request.
    public let server: BaseServer

    public required init(request: Request, server: BaseServer) {
        self.request = request.socket
        self.packet = request.packet
        self.clientAddress = request.clientAddress
        self.server = server
    }

    /// Prepares for `handle()`. The default does nothing.
    open func setup() throws {}

    /// Serves the request. The default does nothing.
    open func handle() throws {}

    /// Cleans up after `handle()`, whether it returned or threw. The default does nothing.
    open func finish() throws {}

    /// Runs setup, handle and finish in order; an error from `handle()` is rethrown after `finish()`.
    public final func run() throws {
        try setup()
        do {
            try handle()
            if let error = errorThatEndedInput { throw error }
        } catch {
            try? finish()
            throw error
        }
        try finish()
    }

    /// An error that ended the handler's input without reaching it (see StreamRequestHandler).
    var errorThatEndedInput: (any Error)? { nil }
}
