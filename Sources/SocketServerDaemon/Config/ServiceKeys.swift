// The [service NAME] keys: each row holds a key's parser, default, what it applies to, its
// documentation and the ServiceConfig field it fills; the struct is here too, its fields starting
// from the rows' defaults. Handlers declare their own keys (HandlerDescriptor.keys).

/// One `[service NAME]` section.
public struct ServiceConfig: Equatable, Sendable {
    public var name: String
    public var listen: ListenAddress
    public var handler: String
    public var workers: Int
    public var concurrency: ConcurrencyKind = ServiceKeys.concurrency.default
    public var threads: Int = ServiceKeys.threads.default
    /// `max_requests`: requests after which a worker retires; 0 = never.
    public var maxRequests: Int = ServiceKeys.maxRequests.default
    /// `timeout`: how long a connection may stay silent (no data either way) before it is closed;
    /// nil means never.
    public var idleTimeout: Duration? = ServiceKeys.idleTimeout.default
    /// `request_timeout`: the longest one request (one handler call: a whole connection for stream
    /// services) may run before the master kills its worker, as gunicorn's worker timeout; nil means no limit.
    public var requestTimeout: Duration? = ServiceKeys.requestTimeout.default
    /// Client address ranges allowed; empty allows everyone.
    public var allow: [AddressRange] = ServiceKeys.allow.default
    /// Client address ranges refused, before `allow` is consulted.
    public var deny: [AddressRange] = ServiceKeys.deny.default
    /// `max_connections`: connections to the service at once, across its workers; 0 = no limit.
    public var maxConnections: Int = ServiceKeys.maxConnections.default
    /// `per_source`: connections at once from one client (an IPv4 address, an IPv6 /64); 0 = no limit.
    public var perSource: Int = ServiceKeys.perSource.default
    /// `rate`: new connections (datagrams) per client, a token bucket; nil = no limit.
    public var rate: RateLimit? = ServiceKeys.rate.default
    /// Handler-specific keys (`directory`, `max_size`, …) as written, with the handler's defaults.
    public var options: [String: String] = [:]
    /// Unix socket files: the mode (nil: from the umask).
    public var socketMode: UInt32? = ServiceKeys.socketMode.default
    /// Unix socket files: the owner (`socket_owner = USER[:GROUP]`), set right after binding.
    public var socketOwner: SocketOwner? = ServiceKeys.socketOwner.default
    /// For a `PLUGIN.HANDLER` handler: the plugin the worker loads.
    public var plugin: PluginConfig? = nil
    /// Where the section starts.
    public var location: SourceLocation

    public init(name: String, listen: ListenAddress, handler: String, workers: Int, location: SourceLocation) {
        self.name = name
        self.listen = listen
        self.handler = handler
        self.workers = workers
        self.location = location
    }
}

enum ServiceKeys {
    static let workerRange = 1...1024
    static let threadRange = 1...4096
    /// What max_connections, per_source and a rate's N may be at most.
    static let limitRange = 1...1_000_000
    private static let unixListeners: [ListenerKind] = [.unix, .unixgram]

    /// Read first by ServiceValidation: the listener decides which keys apply.
    static let listen = ConfigKey<ServiceConfig>.readFirst(
        "listen", defaultValue: .required,
        doc: "tcp://HOST:PORT, tcp://[V6]:PORT, udp://HOST:PORT, unix:/path (stream) or unixgram:/path (datagram)")
    /// Read first by ServiceValidation: the handler decides which other keys exist.
    static let handler = ConfigKey<ServiceConfig>.readFirst(
        "handler", defaultValue: .required, doc: "a built-in handler, or PLUGIN.HANDLER for a handler of a [plugin PLUGIN]")
    /// The default is the number of CPUs, which ServiceValidation passes to ServiceConfig.
    static let workers = ConfigKey<ServiceConfig>.parsed(
        "workers", .integer(workerRange), defaultValue: .described("the number of online CPUs"), into: \.workers,
        doc: "worker processes, \(workerRange.lowerBound) to \(workerRange.upperBound)")
    static let concurrency = Setting<ServiceConfig, ConcurrencyKind>(
        "concurrency", .choice, default: .threads, into: \.concurrency,
        doc: "sync, threads (a pool), fork (a child per request) or events (one event loop: stream "
            + "listeners, handlers echo, discard, daytime, upper and plugin handlers with event callbacks)")
    static let threads = Setting<ServiceConfig, Int>(
        "threads", .integer(threadRange), default: 32, into: \.threads,
        doc: "the pool for threads, the most children for fork, a 32nd of the most connections for events")
    static let maxRequests = Setting<ServiceConfig, Int>(
        "max_requests", .integer(0...1_000_000_000), default: 0, into: \.maxRequests,
        doc: "a worker retires after this many requests plus up to 10% jitter; 0 = never")
    static let idleTimeout = Setting<ServiceConfig, Duration?>(
        "timeout", .secondsOrNever, default: .seconds(30), into: \.idleTimeout,
        doc: "idle seconds before a silent client is closed (exec: no data either way; a datagram program: no output); "
            + "0 = never")
    static let requestTimeout = Setting<ServiceConfig, Duration?>(
        "request_timeout", .secondsOrNever, default: nil, into: \.requestTimeout,
        doc: "the longest one request (for streams, a connection; for exec, its program's whole run) may run "
            + "before the master kills its worker; 0 = no limit")
    static let allow = Setting<ServiceConfig, [AddressRange]>(
        "allow", .addressRanges, default: [], shown: .described("everyone"),
        scope: .listeners([.tcp, .udp], why: "unix clients have no address"), into: \.allow,
        doc: "comma-separated IPv4 or IPv6 addresses and CIDR networks allowed to connect")
    static let deny = Setting<ServiceConfig, [AddressRange]>(
        "deny", .addressRanges, default: [], shown: .described("no one"),
        scope: .listeners([.tcp, .udp], why: "unix clients have no address"), into: \.deny,
        doc: "comma-separated IPv4 or IPv6 addresses and CIDR networks refused, before allow is consulted")
    static let maxConnections = Setting<ServiceConfig, Int>(
        "max_connections", .integer(0...limitRange.upperBound), default: 0,
        scope: .listeners([.tcp, .unix], why: "datagrams are not connections"), into: \.maxConnections,
        doc: "connections to the service at once, across all its workers; beyond, one is closed unread; 0 = no limit")
    static let perSource = Setting<ServiceConfig, Int>(
        "per_source", .integer(0...limitRange.upperBound), default: 0,
        scope: .listeners([.tcp], why: "it counts each client address's connections"), into: \.perSource,
        doc: "connections at once from one client (an IPv4 address, an IPv6 /64), across all workers; 0 = no limit")
    static let rate = Setting<ServiceConfig, RateLimit?>(
        "rate", .rate, default: nil, shown: .described("no limit"),
        scope: .listeners([.tcp, .udp], why: "unix clients have no address"), into: \.rate,
        doc: "N/s or N/m: new connections (udp: datagrams) per client, a token bucket with a burst of N")
    static let socketMode = Setting<ServiceConfig, UInt32?>(
        "socket_mode", .fileMode, default: nil, shown: .described("from the umask"),
        scope: .listeners(unixListeners, why: nil), into: \.socketMode,
        doc: "the octal mode of the socket file, such as 0660")
    static let socketOwner = Setting<ServiceConfig, SocketOwner?>(
        "socket_owner", .socketOwner, default: nil, shown: .described("the daemon's user"),
        scope: .listeners(unixListeners, why: nil), into: \.socketOwner,
        doc: "USER or USER:GROUP owning the socket file, set right after binding")

    /// Every key a service takes whatever its handler, in the order help lists them.
    static let rows: [ConfigKey<ServiceConfig>] = [
        listen, handler, workers, concurrency.row, threads.row, maxRequests.row, idleTimeout.row, requestTimeout.row,
        allow.row, deny.row, maxConnections.row, perSource.row, rate.row, socketMode.row, socketOwner.row,
    ]
    static let names = rows.map(\.name)
    /// Keys about how a worker runs requests, which a service with `handler = program` may not
    /// set: its program accepts and serves clients itself.
    static let notForPrograms = [concurrency.row, threads.row, maxRequests.row, idleTimeout.row, requestTimeout.row, allow.row]
        .map(\.name)
}

extension ValueKind where Value == SocketOwner? {
    /// `USER` or `USER:GROUP`, both existing.
    static let socketOwner = ValueKind.single({ text, key, _ in
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 2 || parts[0].isEmpty || (parts.count == 2 && parts[1].isEmpty) {
            return .failure(.init("\(key) must be USER or USER:GROUP, got \(ConfigText.quoted(text))"))
        } else if !Accounts.userExists(parts[0]) {
            return .failure(.init("\(key): user \(ConfigText.quoted(parts[0])) does not exist"))
        } else if parts.count == 2, !Accounts.groupExists(parts[1]) {
            return .failure(.init("\(key): group \(ConfigText.quoted(parts[1])) does not exist"))
        }
        return .success(SocketOwner(user: parts[0], group: parts.count == 2 ? parts[1] : nil))
    }, format: { owner in owner.map { $0.user + ($0.group.map { ":" + $0 } ?? "") } })
}

extension ValueKind where Value == RateLimit? {
    /// `N/s` or `N/m`, N from 1 to 1000000.
    static let rate = ValueKind.single({ text, key, _ in
        RateLimit(text).map { .success($0) } ?? .failure(.init("\(key) must be N/s or N/m with N from "
            + "\(ServiceKeys.limitRange.lowerBound) to \(ServiceKeys.limitRange.upperBound), got \(ConfigText.quoted(text))"))
    }, format: { $0?.description })
}
