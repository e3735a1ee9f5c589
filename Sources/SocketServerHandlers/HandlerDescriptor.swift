// What the daemon knows of one handler it can serve: its request handler types and config keys.
import SocketServer

/// One named handler the config can select with `handler = NAME`.
public struct HandlerDescriptor: Sendable {
    public let name: String
    /// The handler for stream listeners (tcp://, unix:), or nil if it cannot serve streams.
    public let stream: BaseRequestHandler.Type?
    /// The handler for datagram listeners (udp://, unixgram:), or nil if it cannot serve datagrams.
    public let datagram: BaseRequestHandler.Type?
    /// The event-driven stream handler for `concurrency = events` (`EventLoopMixIn`), or nil if the
    /// handler can only be served by blocking handlers (sync, threads, fork).
    public let events: (any EventStreamHandler.Type)?
    /// The extra config keys the handler accepts, with their defaults (nil: required).
    public let keys: [String: String?]
    /// One line for each key in `keys`: what it does (for `socketserverd --help-config`).
    public let keyDocs: [String: String]
    /// Checks the keys' values; returns (key, problem) pairs, empty when all is well.
    public let validate: @Sendable ([String: String]) -> [(key: String, problem: String)]
    /// True for `program`: no request handler runs in a worker; the master runs the configured
    /// program as each worker, on every kind of listener.
    public let runsProgram: Bool

    public init(
        name: String, stream: BaseRequestHandler.Type?, datagram: BaseRequestHandler.Type?,
        events: (any EventStreamHandler.Type)? = nil, keys: [String: String?] = [:], keyDocs: [String: String] = [:],
        validate: @escaping @Sendable ([String: String]) -> [(key: String, problem: String)] = { _ in [] },
        runsProgram: Bool = false
    ) {
        self.name = name
        self.stream = stream
        self.datagram = datagram
        self.events = events
        self.keys = keys
        self.keyDocs = keyDocs
        self.validate = validate
        self.runsProgram = runsProgram
    }
}
