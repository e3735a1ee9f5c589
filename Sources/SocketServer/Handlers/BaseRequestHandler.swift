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
        try runSteps()
    }

    /// An error that ended the handler's input without reaching it (see StreamRequestHandler).
    package var errorThatEndedInput: (any Error)? { nil }
}

/// The steps of a request handler, run in Python's order by `runSteps()`: the library's
/// BaseRequestHandler and the plugin SDK's PluginRequestHandler both serve a request this way.
package protocol RequestHandlerSteps: AnyObject {
    func setup() throws
    func handle() throws
    func finish() throws
    /// An error that ended the handler's input without reaching `handle()` (a timeout or reset
    /// met by `for line in rfile`); once `handle()` returns, it fails the request.
    var errorThatEndedInput: (any Error)? { get }
}

extension BaseRequestHandler: RequestHandlerSteps {}

extension RequestHandlerSteps {
    /// Runs `setup()`, `handle()` and `finish()`. `finish()` runs even when `handle()` throws (its
    /// own error is then dropped), and the error from `handle()`, or `errorThatEndedInput` after
    /// it returns, is rethrown after `finish()`.
    package func runSteps() throws {
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
}
