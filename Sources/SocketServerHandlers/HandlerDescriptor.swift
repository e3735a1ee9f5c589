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
    /// Builds the handler's settings value (`UploadStreamHandler.Settings`, `ExecSettings`) from a
    /// service's configuration, once per worker; the server hands it to every request as
    /// `HandlerHost.handlerSettings`. nil for a handler without settings.
    public let settings: (@Sendable (HandlerConfiguration) throws -> any Sendable)?
    /// True for `program`: no request handler runs in a worker; the master runs the configured
    /// program as each worker, on every kind of listener.
    public let runsProgram: Bool

    public init(
        name: String, stream: BaseRequestHandler.Type?, datagram: BaseRequestHandler.Type?,
        events: (any EventStreamHandler.Type)? = nil, keys: [String: String?] = [:], keyDocs: [String: String] = [:],
        validate: @escaping @Sendable ([String: String]) -> [(key: String, problem: String)] = { _ in [] },
        settings: (@Sendable (HandlerConfiguration) throws -> any Sendable)? = nil, runsProgram: Bool = false
    ) {
        self.name = name
        self.stream = stream
        self.datagram = datagram
        self.events = events
        self.keys = keys
        self.keyDocs = keyDocs
        self.validate = validate
        self.settings = settings
        self.runsProgram = runsProgram
    }
}

/// What a handler's settings are built from: a service's configuration as the daemon read it.
public struct HandlerConfiguration: Sendable, Equatable {
    /// The handler's own keys as written, defaults filled in (`directory`, `max_size`, `command`).
    /// The service's `timeout` is not among them: the server sets it as each connection's timeout.
    public var options: [String: String]

    public init(options: [String: String]) {
        self.options = options
    }
}

/// Why a handler's settings cannot be built from a configuration (a key the validation passed
/// that still does not make sense, or a required key missing).
public struct HandlerSettingsError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
