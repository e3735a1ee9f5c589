// What a handler may ask of the service it serves (HandlerHost, RequestProblem).
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// What a handler may ask of the service it serves: its name, its config keys, a log. The daemon's
/// service policy conforms and is its server's hooks, where a handler finds it (`host`).
public protocol HandlerHost: AnyObject, Sendable {
    /// The service's name (`[service NAME]`).
    var serviceName: String { get }
    /// The service's handler-specific keys, as written in the config (`directory`, `max_size`, …).
    var options: [String: String] { get }
    /// Writes one line to the daemon's log.
    func log(_ level: LogLevel, _ message: String)
    /// Tells the host that the current request (on this thread) started a program in process group
    /// `group` (0: it has been reaped), so the host can kill it if the worker itself dies.
    func requestStartedProcessGroup(_ group: pid_t)
    /// Logs, at `error` level, why one request failed. A client can cause one per connection, so
    /// the daemon writes at most one line per 10 s per service and kind, with a count.
    func logProblem(_ problem: RequestProblem, _ message: String)
    /// The handler's settings, built once from the service's configuration
    /// (`HandlerDescriptor.settings`); a built-in handler serves with them unless a subclass
    /// overrides its `settings`. nil: the handler has none.
    var handlerSettings: (any Sendable)? { get }
}

extension HandlerHost {
    public var handlerSettings: (any Sendable)? { nil }
    public func requestStartedProcessGroup(_ group: pid_t) {}
    public func logProblem(_ problem: RequestProblem, _ message: String) { log(.error, message) }
}

extension BaseRequestHandler {
    /// The server's hooks as a `HandlerHost`, or nil when the handler runs under a plain library server.
    public var host: (any HandlerHost)? { server.hooks as? HandlerHost }
}

/// Why a request failed, for `HandlerHost.logProblem`.
public enum RequestProblem: Sendable {
    /// The handler refused what the client sent (a malformed header, a bad file name).
    case badRequest
    /// The request failed on the server's side (a full disk, a missing directory).
    case failed
}
