// The validated configuration: what the master builds its services from.
import SocketServer

/// Where a config item was written, for error messages (`file:line`).
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public let file: String
    public let line: Int
    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }
    public var description: String { "\(file):\(line)" }
}

/// The `[daemon]` section and every `[service NAME]`, validated.
public struct DaemonConfig: Equatable, Sendable {
    /// The user and group to drop to when started as root.
    public var user: String? = nil
    public var group: String? = nil
    public var pidFile: String? = nil
    /// How long old workers may take to finish on reload or stop.
    public var gracefulTimeout: Duration = .seconds(30)
    public var logLevel: LogLevelName = .info
    /// Where the log goes instead of stderr (appended; reopened on SIGUSR1 after rotation).
    public var logFile: String? = nil
    /// Where relative plugin paths are found (`plugin_dir`; nil: /usr/lib/socketserverd/plugins).
    public var pluginDirectory: String? = nil
    /// The `[plugin NAME]` sections, in the order written.
    public var plugins: [PluginConfig] = []
    /// Services in the order they appear.
    public var services: [ServiceConfig] = []
    /// Every file read (the main file and its includes), for reload diagnostics.
    public var files: [String] = []

    public init() {}
}

/// A log level as written in the config (kept separate from the handlers' `LogLevel` so that this
/// file has no dependency beyond the library).
public enum LogLevelName: String, Equatable, Sendable, CaseIterable {
    case debug, info, warning, error
}

/// How a service's worker runs its requests. `events`: one event loop (epoll) thread per worker
/// serves every connection with the handler's event-driven variant (stream handlers that have one).
public enum ConcurrencyKind: String, Equatable, Sendable, CaseIterable {
    case sync, threads, fork, events
}

/// One `[service NAME]` section.
public struct ServiceConfig: Equatable, Sendable {
    public var name: String
    public var listen: ListenAddress
    public var handler: String
    public var workers: Int
    public var concurrency: ConcurrencyKind = .threads
    public var threads: Int = 32
    public var maxRequests: Int = 0
    /// Idle seconds before a silent client is closed; nil means never.
    public var timeout: Duration? = .seconds(30)
    /// The longest one request (one handler call: a whole connection for stream services) may run
    /// before the master kills its worker, as gunicorn's worker timeout; nil means no limit.
    public var requestTimeout: Duration? = nil
    /// Client address ranges allowed; empty allows everyone.
    public var allow: [AddressRange] = []
    /// Handler-specific keys (`directory`, `max_size`, …) as written.
    public var options: [String: String] = [:]
    /// Unix socket files: mode and owner (nil: umask default and the daemon's user).
    public var socketMode: UInt32? = nil
    /// Unix socket files: the owner (`socket_owner = USER[:GROUP]`), set right after binding.
    public var socketOwner: SocketOwner? = nil
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

/// A `listen =` value: `tcp://HOST:PORT`, `tcp://[V6]:PORT`, `udp://…`, `unix:/path`, `unixgram:/path`.
public enum ListenAddress: Hashable, Sendable, CustomStringConvertible {
    case tcp(SocketAddress)
    case udp(SocketAddress)
    case unix(path: String)
    case unixgram(path: String)

    public var socketType: SocketType {
        switch self {
        case .tcp, .unix: return .stream
        case .udp, .unixgram: return .datagram
        }
    }

    public var address: SocketAddress {
        switch self {
        case .tcp(let address), .udp(let address): return address
        case .unix(let path), .unixgram(let path): return .unix(path: path)
        }
    }

    public var isDatagram: Bool { socketType == .datagram }

    public var description: String {
        switch self {
        case .tcp(let address): return "tcp://\(address)"
        case .udp(let address): return "udp://\(address)"
        case .unix(let path): return "unix:\(path)"
        case .unixgram(let path): return "unixgram:\(path)"
        }
    }
}

/// `socket_owner = USER[:GROUP]`.
public struct SocketOwner: Hashable, Sendable {
    public var user: String
    public var group: String?
    public init(user: String, group: String?) {
        self.user = user
        self.group = group
    }
}
