// StreamRequestHandler: rfile/wfile over a connected socket (Python's StreamRequestHandler).

/// A handler for stream servers with a buffered reader (`rfile`) and a writer (`wfile`).
/// Override `timeout` to close a client that stays silent, `disableNagleAlgorithm` for TCP_NODELAY.
open class StreamRequestHandler: BaseRequestHandler {
    /// Reads from the client: `read(n)`, `readLine(limit:)`, or `for line in rfile`.
    public let rfile: BufferedReader
    /// Writes to the client; every write is sent in full.
    public let wfile: ResponseWriter

    /// A timeout applied to the connection in `setup()`; nil (the default) waits forever.
    open var timeout: Duration? { nil }
    /// Sets TCP_NODELAY on TCP connections when true.
    open var disableNagleAlgorithm: Bool { false }

    public required init(request: Request, server: BaseServer) {
        rfile = BufferedReader(socket: request.socket)
        wfile = ResponseWriter(socket: request.socket)
        super.init(request: request, server: server)
    }

    override open func setup() throws {
        if let timeout { try request.setTimeout(timeout) }
        if disableNagleAlgorithm, request.family != .unix { try request.setOption(.tcpNoDelay, true) }
    }

    override open func finish() throws {
        try wfile.flush()
    }

    /// A timeout or reset that ended `for line in rfile` is the request's error, as in Python.
    override package var errorThatEndedInput: (any Error)? { rfile.iterationError }
}
