// `listen =` values: tcp://HOST:PORT, tcp://[V6]:PORT, udp://…, unix:/path, unixgram:/path.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// Parses listen addresses. Hosts must be numeric: the loader never waits on DNS.
enum ListenAddressParser {
    struct Failure: Error, Equatable {
        var message: String
    }

    static let forms = "tcp://HOST:PORT, udp://HOST:PORT, unix:/PATH or unixgram:/PATH"

    static func parse(_ text: String) throws(Failure) -> ListenAddress {
        func fail(_ problem: String) -> Failure { Failure(message: "bad listen address \(ConfigText.quoted(text)): \(problem)") }
        if text.hasPrefix("tcp://") {
            return .tcp(try inet(String(text.dropFirst(6)), fail))
        }
        if text.hasPrefix("udp://") {
            return .udp(try inet(String(text.dropFirst(6)), fail))
        }
        if text.hasPrefix("unixgram:") {
            return .unixgram(path: try unixPath(String(text.dropFirst(9)), fail))
        }
        if text.hasPrefix("unix:") {
            return .unix(path: try unixPath(String(text.dropFirst(5)), fail))
        }
        let scheme = text.prefix { $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }
        if let first = scheme.first, first.isLetter, text[scheme.endIndex...].hasPrefix(":") {
            throw fail("unknown scheme \(ConfigText.quoted(scheme)) (expected \(forms))")
        }
        throw fail("missing scheme (expected \(forms))")
    }

    private static func inet(_ rest: String, _ fail: (String) -> Failure) throws(Failure) -> SocketAddress {
        let host: String
        let portText: Substring
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("IPv6 address is missing ']'") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            guard after.hasPrefix(":") else { throw fail("expected ':PORT' after ']'") }
            portText = after.dropFirst()
            guard host.contains(":") else { throw fail("only IPv6 addresses go in brackets, got \(ConfigText.quoted(host))") }
            try checkIPv6(host, fail)
        } else {
            let colons = rest.filter { $0 == ":" }.count
            if colons > 1 { throw fail("IPv6 addresses must be in brackets, e.g. tcp://[::1]:7007") }
            guard let colon = rest.firstIndex(of: ":") else { throw fail("missing port (expected HOST:PORT)") }
            host = String(rest[..<colon])
            portText = rest[rest.index(after: colon)...]
            guard !host.isEmpty else {
                throw fail("missing host (use 0.0.0.0 for every IPv4 address or [::] for every address)")
            }
            var v4 = in_addr()
            guard inet_pton(AF_INET, host, &v4) == 1 else {
                throw fail("host \(ConfigText.quoted(host)) is not a numeric IPv4 address "
                    + "(host names are not resolved; write e.g. 127.0.0.1 or [::1])")
            }
        }
        guard !portText.isEmpty else { throw fail("missing port") }
        guard portText.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw fail("port \(ConfigText.quoted(portText)) is not a number")
        }
        guard let port = Int(portText) else {
            throw fail(SocketError.invalidAddress("port \(portText) is out of range 0-65535").description)
        }
        do throws(SocketError) {
            return try SocketAddress(host: host, port: port)
        } catch {
            throw fail(error.description)
        }
    }

    /// A numeric IPv6 address, with an optional `%zone` naming an interface or its index.
    private static func checkIPv6(_ host: String, _ fail: (String) -> Failure) throws(Failure) {
        var address = Substring(host)
        if let percent = host.firstIndex(of: "%") {
            address = host[..<percent]
            let zone = String(host[host.index(after: percent)...])
            if zone.isEmpty || zone == "0" || (UInt32(zone) == nil && if_nametoindex(zone) == 0) {
                throw fail("unknown network interface \(ConfigText.quoted(zone)) in \(ConfigText.quoted(host))")
            }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, String(address), &v6) == 1 else {
            throw fail("\(ConfigText.quoted(host)) is not a numeric IPv6 address")
        }
    }

    private static func unixPath(_ path: String, _ fail: (String) -> Failure) throws(Failure) -> String {
        guard !path.isEmpty else { throw fail("unix socket path is empty") }
        guard path.hasPrefix("/") else {
            throw fail("unix socket path must be absolute (start with /)")
        }
        guard path.utf8.count <= SocketAddress.maximumUnixPathLength else {
            throw fail(SocketError.pathTooLong(path: path, maximum: SocketAddress.maximumUnixPathLength).description)
        }
        return path
    }
}
