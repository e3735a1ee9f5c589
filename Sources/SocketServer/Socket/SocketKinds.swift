// Typed names for address families, socket types and shutdown directions.
#if canImport(Glibc)
import Glibc
#endif

/// An address family (`AF_INET`, `AF_INET6`, `AF_UNIX`).
public struct AddressFamily: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let inet = AddressFamily(rawValue: AF_INET)
    public static let inet6 = AddressFamily(rawValue: AF_INET6)
    public static let unix = AddressFamily(rawValue: AF_UNIX)
    public static let unspecified = AddressFamily(rawValue: AF_UNSPEC)

    public var description: String {
        switch self {
        case .inet: return "AF_INET"
        case .inet6: return "AF_INET6"
        case .unix: return "AF_UNIX"
        case .unspecified: return "AF_UNSPEC"
        default: return "AF(\(rawValue))"
        }
    }
}

/// A socket type (`SOCK_STREAM`, `SOCK_DGRAM`, `SOCK_SEQPACKET`).
public struct SocketType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let stream = SocketType(rawValue: Int32(SOCK_STREAM.rawValue))
    public static let datagram = SocketType(rawValue: Int32(SOCK_DGRAM.rawValue))
    public static let seqpacket = SocketType(rawValue: Int32(SOCK_SEQPACKET.rawValue))

    /// True for types that carry a byte stream or connected records (accept/recv), false for datagrams.
    public var isConnectionOriented: Bool { self != .datagram }

    public var description: String {
        switch self {
        case .stream: return "SOCK_STREAM"
        case .datagram: return "SOCK_DGRAM"
        case .seqpacket: return "SOCK_SEQPACKET"
        default: return "SOCK(\(rawValue))"
        }
    }
}

/// Which direction `Socket.shutdown(_:)` closes (`SHUT_RD`, `SHUT_WR`, `SHUT_RDWR`).
public enum ShutdownHow: Sendable {
    case read, write, readWrite

    var rawValue: Int32 {
        switch self {
        case .read: return Int32(SHUT_RD)
        case .write: return Int32(SHUT_WR)
        case .readWrite: return Int32(SHUT_RDWR)
        }
    }
}

/// A socket option: a level and a name, as given to `setsockopt`/`getsockopt`.
public struct SocketOption: Hashable, Sendable {
    public let level: Int32
    public let name: Int32
    public init(level: Int32, name: Int32) {
        self.level = level
        self.name = name
    }

    public static let reuseAddress = SocketOption(level: SOL_SOCKET, name: SO_REUSEADDR)
    public static let reusePort = SocketOption(level: SOL_SOCKET, name: SO_REUSEPORT)
    public static let keepAlive = SocketOption(level: SOL_SOCKET, name: SO_KEEPALIVE)
    public static let broadcast = SocketOption(level: SOL_SOCKET, name: SO_BROADCAST)
    public static let receiveBufferSize = SocketOption(level: SOL_SOCKET, name: SO_RCVBUF)
    public static let sendBufferSize = SocketOption(level: SOL_SOCKET, name: SO_SNDBUF)
    public static let error = SocketOption(level: SOL_SOCKET, name: SO_ERROR)
    public static let type = SocketOption(level: SOL_SOCKET, name: SO_TYPE)
    public static let domain = SocketOption(level: SOL_SOCKET, name: SO_DOMAIN)
    public static let acceptConnections = SocketOption(level: SOL_SOCKET, name: SO_ACCEPTCONN)
    public static let tcpNoDelay = SocketOption(level: Int32(IPPROTO_TCP), name: TCP_NODELAY)
    public static let ipv6Only = SocketOption(level: Int32(IPPROTO_IPV6), name: IPV6_V6ONLY)
}
