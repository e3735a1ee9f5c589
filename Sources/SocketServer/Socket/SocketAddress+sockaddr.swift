// Conversions between SocketAddress and the kernel's sockaddr structures.
#if canImport(Glibc)
import Glibc
#endif

extension SocketAddress {
    /// The most bytes a Unix path may have (sun_path minus the terminating NUL).
    public static let maximumUnixPathLength = MemoryLayout.size(ofValue: sockaddr_un().sun_path) - 1

    /// The address as a `sockaddr_storage` and its length, ready for bind/connect/sendto.
    func storage() throws(SocketError) -> (sockaddr_storage, socklen_t) {
        var storage = sockaddr_storage()
        switch self {
        case .inet(let host, let port):
            try Self.checkPort(port)
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = UInt16(port).bigEndian
            guard inet_pton(AF_INET, host, &sin.sin_addr) == 1 else { throw .invalidAddress(host) }
            withUnsafeMutableBytes(of: &storage) { raw in raw.storeBytes(of: sin, as: sockaddr_in.self) }
            return (storage, socklen_t(MemoryLayout<sockaddr_in>.size))
        case .inet6(let host, let port, let flowInfo, let scopeID):
            try Self.checkPort(port)
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = UInt16(port).bigEndian
            sin6.sin6_flowinfo = flowInfo.bigEndian
            sin6.sin6_scope_id = scopeID
            guard inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1 else { throw .invalidAddress(host) }
            withUnsafeMutableBytes(of: &storage) { raw in raw.storeBytes(of: sin6, as: sockaddr_in6.self) }
            return (storage, socklen_t(MemoryLayout<sockaddr_in6>.size))
        case .unix(let path):
            let bytes = Array(path.utf8)
            let abstract = bytes.first == 0
            // An abstract name may use every byte of sun_path; a path needs room for its NUL.
            let limit = abstract ? Self.maximumUnixPathLength + 1 : Self.maximumUnixPathLength
            guard bytes.count <= limit else { throw .pathTooLong(path: path, maximum: Self.maximumUnixPathLength) }
            if !abstract, bytes.contains(0) { throw .invalidAddress("unix path contains a NUL byte") }
            var sun = sockaddr_un()
            sun.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &sun.sun_path) { raw in
                raw.copyBytes(from: bytes)
            }
            withUnsafeMutableBytes(of: &storage) { raw in raw.storeBytes(of: sun, as: sockaddr_un.self) }
            let header = MemoryLayout<sa_family_t>.size
            let length = abstract ? header + bytes.count : header + bytes.count + 1
            return (storage, socklen_t(length))
        }
    }

    /// Calls `body` with the address as a `sockaddr` pointer and its length.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) throws(SocketError) -> R {
        var (storage, length) = try storage()
        return withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, length) }
        }
    }

    /// Decodes a kernel address. Unknown families become an invalid-address error.
    init(storage: sockaddr_storage, length: socklen_t) throws(SocketError) {
        var storage = storage
        let family = Int32(storage.ss_family)
        switch family {
        case AF_INET:
            let sin = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in.self) }
            self = .inet(host: IPText.format4(sin.sin_addr), port: Int(UInt16(bigEndian: sin.sin_port)))
        case AF_INET6:
            let sin6 = withUnsafeBytes(of: &storage) { $0.load(as: sockaddr_in6.self) }
            self = .inet6(host: IPText.format6(sin6.sin6_addr), port: Int(UInt16(bigEndian: sin6.sin6_port)),
                          flowInfo: UInt32(bigEndian: sin6.sin6_flowinfo), scopeID: sin6.sin6_scope_id)
        case AF_UNIX:
            let header = MemoryLayout<sa_family_t>.size
            let count = max(0, Int(length) - header)
            let bytes: [UInt8] = withUnsafeBytes(of: &storage) { raw in
                Array(raw[header..<min(header + count, raw.count)])
            }
            if bytes.first == 0 {
                self = .unix(path: String(decoding: bytes, as: UTF8.self))
            } else {
                let end = bytes.firstIndex(of: 0) ?? bytes.count
                self = .unix(path: String(decoding: bytes[..<end], as: UTF8.self))
            }
        default:
            throw .invalidAddress("unsupported address family \(family)")
        }
    }

    /// Calls `body` with room for a kernel-filled address (getsockname, accept, recvfrom…) and decodes it.
    /// An empty result (length 0: an unnamed peer) decodes to nil.
    static func receiving(
        _ body: (UnsafeMutablePointer<sockaddr>, UnsafeMutablePointer<socklen_t>) throws(SocketError) -> Int
    ) throws(SocketError) -> (result: Int, address: SocketAddress?) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = try withUnsafeMutablePointer(to: &storage) { (pointer) throws(SocketError) -> Int in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { (address) throws(SocketError) -> Int in
                try body(address, &length)
            }
        }
        if length == 0 { return (result, nil) }
        return (result, try SocketAddress(storage: storage, length: length))
    }
}
