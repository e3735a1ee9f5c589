// Two listeners that would bind the same address (two services, or a service and the metrics
// listener): identical listeners, or a wildcard and a specific address on the same port and socket type.
import SocketServer

enum ListenConflicts {
    struct Claim {
        var service: String
        var address: ListenAddress
        var location: SourceLocation
        /// The key that names the address: `listen`, or `metrics` (claimed after every service).
        var key = "listen"
    }

    /// Reports each listener that collides with an earlier one, at its `listen` line, naming the
    /// first earlier service it collides with. Linear in the number of services.
    static func check(_ claims: [Claim], diagnostics: inout Diagnostics) {
        var paths: [String: Int] = [:]
        var ports: [PortKey: Port] = [:]
        for (index, claim) in claims.enumerated() {
            let earlier: Int?
            switch claim.address {
            case .unix(let path), .unixgram(let path):
                earlier = paths[path]
                if earlier == nil { paths[path] = index }
            case .tcp(let address), .udp(let address):
                guard let port = address.port, port != 0 else { continue }
                let key = PortKey(datagram: claim.address.isDatagram, port: port)
                earlier = ports[key, default: Port()].claim(address, index)
            }
            guard let earlier else { continue }
            let first = claims[earlier]
            diagnostics.add("\(claim.key) \(claim.address) conflicts with service \(ConfigText.quoted(first.service)), "
                + "which listens on \(first.address) (\(first.location))", at: claim.location)
        }
    }

    struct PortKey: Hashable {
        var datagram: Bool
        var port: Int
    }

    /// The claims seen so far on one port and socket type, by the kinds that matter for overlap.
    /// The library binds IPv6 listeners dual-stack (Linux's default), so `[::]` also takes IPv4.
    struct Port {
        var exact: [SocketAddress: Int] = [:]
        var anyClaim: Int?
        var firstIPv4: Int?
        var wildcard4: Int?
        var wildcard6: Int?

        /// Records `address` (claim number `index`) and returns the first earlier claim it overlaps.
        mutating func claim(_ address: SocketAddress, _ index: Int) -> Int? {
            let isIPv4 = address.family == .inet
            let isWildcard4 = isIPv4 && address.host == "0.0.0.0"
            let isWildcard6 = address.family == .inet6 && address.host == "::"
            var candidates = [exact[address], wildcard6]
            if isWildcard6 { candidates.append(anyClaim) }
            if isWildcard4 { candidates.append(firstIPv4) }
            if isIPv4 { candidates.append(wildcard4) }
            let earlier = candidates.compactMap { $0 }.min()

            if exact[address] == nil { exact[address] = index }
            if anyClaim == nil { anyClaim = index }
            if isIPv4, firstIPv4 == nil { firstIPv4 = index }
            if isWildcard4, wildcard4 == nil { wildcard4 = index }
            if isWildcard6, wildcard6 == nil { wildcard6 = index }
            return earlier
        }
    }

    /// True if binding both would fail with EADDRINUSE (the rule `check` applies, for one pair).
    static func conflict(_ a: ListenAddress, _ b: ListenAddress) -> Bool {
        var diagnostics = Diagnostics()
        let nowhere = SourceLocation(file: "", line: 0)
        check([Claim(service: "a", address: a, location: nowhere), Claim(service: "b", address: b, location: nowhere)],
              diagnostics: &diagnostics)
        return !diagnostics.isEmpty
    }
}
