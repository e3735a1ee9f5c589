// `allow =` entries: an IPv4 or IPv6 network in CIDR form, matched against client addresses.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// A network such as `127.0.0.0/8` or `::1` (a single address is a /32 or /128). IPv4 ranges also
/// match IPv4-mapped IPv6 clients (`::ffff:127.0.0.1`), which a dual-stack listener reports.
public struct AddressRange: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes for IPv4, 16 for IPv6.
    public let network: [UInt8]
    public let prefixLength: Int

    /// Parses `ADDRESS` or `ADDRESS/PREFIX`; nil if it is not a valid range.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let bytes = AddressRange.bytes(of: String(parts[0])) else { return nil }
        let maximum = bytes.count * 8
        var prefix = maximum
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0...maximum).contains(value) else { return nil }
            prefix = value
        }
        network = AddressRange.masked(bytes, prefix)
        prefixLength = prefix
    }

    /// True if the client's address is in this range. Unix clients never match.
    public func contains(_ address: SocketAddress) -> Bool {
        guard address.family != .unix, var bytes = AddressRange.bytes(of: address.host) else { return false }
        if bytes.count == 16, network.count == 4, bytes[0..<10].allSatisfy({ $0 == 0 }),
           bytes[10] == 0xff, bytes[11] == 0xff {
            bytes = Array(bytes[12...])  // v4-mapped IPv6
        }
        guard bytes.count == network.count else { return false }
        return AddressRange.masked(bytes, prefixLength) == network
    }

    public var description: String {
        let host = network.count == 4
            ? network.map(String.init).joined(separator: ".")
            : (try? SocketAddress(host: AddressRange.text6(network), port: 0).host) ?? "?"
        return "\(host)/\(prefixLength)"
    }

    static func bytes(of host: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        let bare = host.split(separator: "%").first.map(String.init) ?? host
        if inet_pton(AF_INET6, bare, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    static func masked(_ bytes: [UInt8], _ prefix: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = min(8, max(0, prefix - index * 8))
            return bits == 8 ? byte : byte & ~(UInt8(0xff) >> bits)
        }
    }

    static func text6(_ bytes: [UInt8]) -> String {
        var addr = in6_addr()
        withUnsafeMutableBytes(of: &addr) { $0.copyBytes(from: bytes) }
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        inet_ntop(AF_INET6, &addr, &buffer, socklen_t(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
