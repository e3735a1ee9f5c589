// The contract between a service's server and the handlers it runs, and the catalogue of built-ins.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// What a handler may ask of the server running it: its service's name, its config keys, a log.
/// The daemon's per-service servers conform; a handler reaches it as `server as? HandlerHost`.
public protocol HandlerHost: AnyObject, Sendable {
    /// The service's name (`[service NAME]`).
    var serviceName: String { get }
    /// The service's handler-specific keys, as written in the config (`directory`, `max_size`, …).
    var options: [String: String] { get }
    /// Writes one line to the daemon's log.
    func log(_ level: LogLevel, _ message: String)
    /// The service's `timeout`: how long one request may stay silent (exec: may run). nil = no limit.
    var requestTimeout: Duration? { get }
    /// Tells the host that the current request (on this thread) started a program in process group
    /// `group` (0: it has been reaped), so the host can kill it if the worker itself dies.
    func requestStartedProcessGroup(_ group: pid_t)
    /// Logs, at `error` level, why one request failed. A client can cause one per connection, so
    /// the daemon writes at most one line per 10 s per service and kind, with a count.
    func logProblem(_ problem: RequestProblem, _ message: String)
}

extension HandlerHost {
    public var requestTimeout: Duration? { nil }
    public func requestStartedProcessGroup(_ group: pid_t) {}
    public func logProblem(_ problem: RequestProblem, _ message: String) { log(.error, message) }
}

/// Why a request failed, for `HandlerHost.logProblem`.
public enum RequestProblem: Sendable {
    /// The handler refused what the client sent (a malformed header, a bad file name).
    case badRequest
    /// The request failed on the server's side (a full disk, a missing directory).
    case failed
}

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
    /// Checks the keys' values; returns (key, problem) pairs, empty when all is well.
    public let validate: @Sendable ([String: String]) -> [(key: String, problem: String)]

    public init(
        name: String, stream: BaseRequestHandler.Type?, datagram: BaseRequestHandler.Type?,
        events: (any EventStreamHandler.Type)? = nil, keys: [String: String?] = [:],
        validate: @escaping @Sendable ([String: String]) -> [(key: String, problem: String)] = { _ in [] }
    ) {
        self.name = name
        self.stream = stream
        self.datagram = datagram
        self.events = events
        self.keys = keys
        self.validate = validate
    }
}
