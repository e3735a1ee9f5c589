// Two services that would bind the same address: identical listeners, or a wildcard and a
// specific address on the same port and socket type.
import SocketServer

enum ListenConflicts {
    struct Claim {
        var service: String
        var address: ListenAddress
        var location: SourceLocation
    }

    /// Reports each listener that collides with an earlier one, at its `listen` line.
    static func check(_ claims: [Claim], diagnostics: inout Diagnostics) {
        for (index, claim) in claims.enumerated() {
            guard let earlier = claims[..<index].first(where: { conflict($0.address, claim.address) }) else { continue }
            diagnostics.add("listen \(claim.address) conflicts with service \(ConfigText.quoted(earlier.service)), "
                + "which listens on \(earlier.address) (\(earlier.location))", at: claim.location)
        }
    }

    /// True if binding both would fail with EADDRINUSE. Port 0 (any free port) never conflicts.
    /// The library binds IPv6 listeners dual-stack (Linux's default), so `[::]` also takes IPv4.
    static func conflict(_ a: ListenAddress, _ b: ListenAddress) -> Bool {
        switch (a, b) {
        case (.unix(let p), .unix(let q)), (.unix(let p), .unixgram(let q)),
             (.unixgram(let p), .unix(let q)), (.unixgram(let p), .unixgram(let q)):
            return p == q
        case (.tcp(let x), .tcp(let y)), (.udp(let x), .udp(let y)):
            guard let port = x.port, port != 0, port == y.port else { return false }
            return x == y || isWildcard(x, over: y) || isWildcard(y, over: x)
        default:
            return false
        }
    }

    /// True if `wildcard` is an any-address that covers `other`'s address.
    private static func isWildcard(_ wildcard: SocketAddress, over other: SocketAddress) -> Bool {
        switch wildcard {
        case .inet(let host, _): return host == "0.0.0.0" && other.family == .inet
        case .inet6(let host, _, _, _): return host == "::"
        case .unix: return false
        }
    }
}
