// The types of the validated configuration's values: where an item was written, listeners, log
// levels, concurrency kinds, socket owners. DaemonConfig is in DaemonKeys.swift, ServiceConfig in
// ServiceKeys.swift, each beside the rows of the keys that fill it.
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

/// How a service's worker runs its requests. `events`: one event loop (epoll) thread per worker
/// serves every connection with the handler's event-driven variant (stream handlers that have one).
public enum ConcurrencyKind: String, Equatable, Sendable, CaseIterable {
    case sync, threads, fork, events
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

/// `control_socket =`: where the master answers `status` and `scale`.
public enum ControlSocketSetting: Hashable, Sendable {
    /// Not set: `control.sock` in `$RUNTIME_DIRECTORY` when the service manager sets it, else none.
    case automatic
    case off
    case path(String)

    /// The file name the automatic setting uses in the runtime directory.
    static let fileName = "control.sock"

    /// The socket's path, given the runtime directory (`$RUNTIME_DIRECTORY`; nil: not set); nil: off.
    func path(runtimeDirectory: String?) -> String? {
        switch self {
        case .off: return nil
        case .path(let path): return path
        case .automatic:
            // systemd may list several directories, separated by colons: the first is the unit's own.
            guard let first = runtimeDirectory?.split(separator: ":").first, first.hasPrefix("/") else { return nil }
            return (first.hasSuffix("/") ? String(first) : first + "/") + Self.fileName
        }
    }
}

/// `rate = N/s` or `N/m`: a client may make N new connections (datagrams) per second or minute,
/// a token bucket with a burst of N that refills one token every `interval`.
public struct RateLimit: Hashable, Sendable, CustomStringConvertible {
    public let count: Int
    /// Per second (false: per minute).
    public let perSecond: Bool

    /// Parses `N/s` or `N/m`; nil when the text is neither or N is out of range.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].allSatisfy({ $0.isASCII && $0.isNumber }), let count = Int(parts[0]),
              ServiceKeys.limitRange.contains(count), parts[1] == "s" || parts[1] == "m" else { return nil }
        self.count = count
        perSecond = parts[1] == "s"
    }

    /// The time one token takes to come back.
    public var interval: Duration { .seconds(perSecond ? 1 : 60) / count }

    public var description: String { "\(count)/\(perSecond ? "s" : "m")" }
}

/// `access_log =`: where workers write one line per connection (or datagram).
public enum AccessLogTarget: Hashable, Sendable, CustomStringConvertible {
    case off, stderr
    /// An absolute path, appended to; only the master opens it.
    case file(String)

    public var description: String {
        switch self {
        case .off: return "off"
        case .stderr: return "stderr"
        case .file(let path): return path
        }
    }
}
