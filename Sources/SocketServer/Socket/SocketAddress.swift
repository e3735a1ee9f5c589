// One Swift type for every socket address the library speaks: IPv4, IPv6 and Unix.
#if canImport(Glibc)
import Glibc
#endif

/// A socket address. Its `description` is the form users expect:
/// `127.0.0.1:9999`, `[::1]:9999`, `[fe80::1%eth0]:9999`, `/run/app.sock`, `@abstract-name`.
///
/// Ports are `Int`, as in Python; a port outside 0…65535 is `SocketError.invalidAddress` when the
/// address is used (bind, connect, sendTo), never a trap. Where the API takes an address it also
/// takes Python's forms: a `(host, port)` tuple and, for Unix sockets, a path `String`.
public enum SocketAddress: Hashable, Sendable, CustomStringConvertible {
    /// An IPv4 address in dotted-quad form and a port.
    case inet(host: String, port: Int)
    /// An IPv6 address in canonical text form (no brackets), a port, and the flow info and scope id.
    case inet6(host: String, port: Int, flowInfo: UInt32 = 0, scopeID: UInt32 = 0)
    /// A Unix-domain path. A leading NUL byte (written `@` in text) is Linux's abstract namespace;
    /// the empty path is an unnamed socket (a client that never bound).
    case unix(path: String)

    /// The address family the address belongs to.
    public var family: AddressFamily {
        switch self {
        case .inet: return .inet
        case .inet6: return .inet6
        case .unix: return .unix
        }
    }

    /// The host part (IP text), or the path for Unix addresses (Python's `address[0]`).
    public var host: String {
        switch self {
        case .inet(let host, _), .inet6(let host, _, _, _): return host
        case .unix(let path): return path
        }
    }

    /// The port, or nil for Unix addresses (Python's `address[1]`).
    public var port: Int? {
        switch self {
        case .inet(_, let port), .inet6(_, let port, _, _): return port
        case .unix: return nil
        }
    }

    /// True for an abstract-namespace Unix address (Linux only).
    public var isAbstract: Bool {
        if case .unix(let path) = self { return path.utf8.first == 0 }
        return false
    }

    public var description: String {
        switch self {
        case .inet(let host, let port): return "\(host):\(port)"
        case .inet6(let host, let port, _, let scopeID):
            // Keep the zone (`[fe80::1%eth0]:80`): a link-local address means nothing without it,
            // and `init(parsing:)` must read back what this prints.
            guard scopeID != 0 else { return "[\(host)]:\(port)" }
            var name = [CChar](repeating: 0, count: Int(IF_NAMESIZE) + 1)
            let zone = if_indextoname(scopeID, &name) != nil
                ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "\(scopeID)"
            return "[\(host)%\(zone)]:\(port)"
        case .unix(let path):
            if path.isEmpty { return "(unnamed)" }
            if isAbstract { return "@" + String(decoding: path.utf8.dropFirst(), as: UTF8.self) }
            return path
        }
    }

    /// A numeric host and a port: `"127.0.0.1"`, `"::1"`, `"[::1]"`, `"fe80::1%lo"`, or `""` for
    /// any address (IPv4 unless `family` is `.inet6`), as Python's `bind(("", port))`. Host names are resolved with `getaddrinfo`
    /// (the first result is used).
    public init(host: String, port: Int) throws(SocketError) {
        try self.init(host: host, port: port, family: .unspecified)
    }

    /// `SocketAddress(host:port:)` with name resolution limited to `family` (`.inet`: an IPv4
    /// address only, as Python's `connect(("localhost", port))` on an AF_INET socket).
    public init(host: String, port: Int, family: AddressFamily) throws(SocketError) {
        try Self.checkPort(port)
        var text = host
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        if text.isEmpty { self = family == .inet6 ? .inet6(host: "::", port: port) : .inet(host: "0.0.0.0", port: port); return }
        if let v4 = IPText.parse4(text) { self = .inet(host: v4, port: port); return }
        if let (v6, scope) = IPText.parse6(text) { self = .inet6(host: v6, port: port, scopeID: scope); return }
        let resolved = try getAddrInfo(host: text, port: port, family: family, type: .stream)
        guard let first = resolved.first else { throw .resolution(host: text, code: EAI_NONAME) }
        self = first.address
    }

    /// Python's address tuple: `SocketAddress(("127.0.0.1", 9999))`.
    public init(_ address: (host: String, port: Int)) throws(SocketError) {
        try self.init(host: address.host, port: address.port)
    }

    /// Throws unless `port` is 0…65535.
    static func checkPort(_ port: Int) throws(SocketError) {
        guard (0...65535).contains(port) else { throw .invalidAddress("port \(port) is out of range 0-65535") }
    }

    /// An IPv4 address with a `UInt16` port, for code written before ports were `Int`.
    @available(*, deprecated, message: "ports are Int: .inet(host:port:) with an Int")
    public static func inet(host: String, port: UInt16) -> SocketAddress { .inet(host: host, port: Int(port)) }

    /// An IPv6 address with a `UInt16` port, for code written before ports were `Int`.
    @available(*, deprecated, message: "ports are Int: .inet6(host:port:) with an Int")
    public static func inet6(host: String, port: UInt16, flowInfo: UInt32 = 0, scopeID: UInt32 = 0) -> SocketAddress {
        .inet6(host: host, port: Int(port), flowInfo: flowInfo, scopeID: scopeID)
    }

    /// Parses the textual forms `description` prints: `HOST:PORT`, `[V6]:PORT`, `/path`, `@abstract`.
    public init(parsing text: String) throws(SocketError) {
        if text.hasPrefix("/") || text.hasPrefix("./") { self = .unix(path: text); return }
        if text.hasPrefix("@") { self = .unix(path: "\0" + text.dropFirst()); return }
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw .invalidAddress("\(text) (expected [IPv6]:PORT)")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon else {
                throw .invalidAddress("\(text) (expected HOST:PORT, [IPv6]:PORT or /path)")
            }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard let port = Int(portPart), (0...65535).contains(port) else {
            throw .invalidAddress("\(text) (port must be a number 0-65535)")
        }
        try self.init(host: String(hostPart), port: port)
    }
}

/// inet_pton/inet_ntop round trips, giving canonical text for numeric addresses.
enum IPText {
    static func parse4(_ text: String) -> String? {
        var addr = in_addr()
        guard inet_pton(AF_INET, text, &addr) == 1 else { return nil }
        return format4(addr)
    }

    static func parse6(_ text: String) -> (String, UInt32)? {
        var host = Substring(text)
        var scope: UInt32 = 0
        if let percent = text.firstIndex(of: "%") {
            host = text[..<percent]
            let zone = String(text[text.index(after: percent)...])
            scope = UInt32(zone) ?? if_nametoindex(zone)
            if scope == 0 { return nil }
        }
        var addr = in6_addr()
        guard inet_pton(AF_INET6, String(host), &addr) == 1 else { return nil }
        return (format6(addr), scope)
    }

    static func format4(_ addr: in_addr) -> String {
        // By hand, on the stack: every accepted IPv4 connection formats its peer, glibc's inet_ntop
        // goes through sprintf (about 1,800 instructions), and "255.255.255.255" fits a small
        // (inline) String, so this allocates nothing.
        let value = UInt32(bigEndian: addr.s_addr)
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { buffer in
            var count = 0
            for shift in [24, 16, 8, 0] as [UInt32] {
                let byte = Int((value >> shift) & 0xff)
                if byte >= 100 { buffer[count] = UInt8(48 + byte / 100); count += 1 }
                if byte >= 10 { buffer[count] = UInt8(48 + byte / 10 % 10); count += 1 }
                buffer[count] = UInt8(48 + byte % 10)
                count += 1
                if shift != 0 { buffer[count] = UInt8(ascii: "."); count += 1 }
            }
            return String(decoding: UnsafeBufferPointer(rebasing: buffer[0..<count]), as: UTF8.self)
        }
    }

    static func format6(_ addr: in6_addr) -> String {
        var addr = addr
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
