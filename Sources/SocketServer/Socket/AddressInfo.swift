// Name resolution (getaddrinfo) and the createConnection client helper.
#if canImport(Glibc)
import Glibc
#endif

/// One result of `getAddrInfo`: what `socket()` and `connect()` need for one candidate address.
public struct AddressInfo: Sendable, Hashable {
    public let family: AddressFamily
    public let type: SocketType
    public let proto: Int32
    public let canonicalName: String?
    public let address: SocketAddress
}

/// Resolves a host and port (Python's `socket.getaddrinfo`). `host` nil means the wildcard address
/// when `passive` (for bind) or loopback otherwise.
public func getAddrInfo(
    host: String?, port: Int?, family: AddressFamily = .unspecified, type: SocketType? = nil,
    passive: Bool = false, canonicalName: Bool = false
) throws(SocketError) -> [AddressInfo] {
    var hints = addrinfo()
    hints.ai_family = family.rawValue
    hints.ai_socktype = type?.rawValue ?? 0
    hints.ai_flags = (passive ? AI_PASSIVE : 0) | (canonicalName ? AI_CANONNAME : 0)
    var list: UnsafeMutablePointer<addrinfo>?
    let service = port.map(String.init)
    let code = getaddrinfo(host, service, &hints, &list)
    guard code == 0 else {
        if code == EAI_SYSTEM { throw .last("getaddrinfo \(host ?? "")") }
        throw .resolution(host: host ?? "", code: code)
    }
    defer { freeaddrinfo(list) }
    var results: [AddressInfo] = []
    var cursor = list
    while let entry = cursor?.pointee {
        defer { cursor = entry.ai_next }
        guard let addr = entry.ai_addr else { continue }
        var storage = sockaddr_storage()
        withUnsafeMutableBytes(of: &storage) { raw in
            raw.copyMemory(from: UnsafeRawBufferPointer(start: addr, count: Int(entry.ai_addrlen)))
        }
        guard let address = try? SocketAddress(storage: storage, length: entry.ai_addrlen) else { continue }
        let name = entry.ai_canonname.map { String(cString: $0) }
        let info = AddressInfo(family: AddressFamily(rawValue: entry.ai_family), type: SocketType(rawValue: entry.ai_socktype),
                               proto: entry.ai_protocol, canonicalName: name, address: address)
        if !results.contains(info) { results.append(info) }
    }
    return results
}

/// Connects a TCP socket to `host:port`, trying each resolved address in turn (Python's
/// `socket.create_connection`). The timeout applies to each connect and stays set on the socket.
public func createConnection(
    host: String, port: Int, timeout: Duration? = nil, sourceAddress: SocketAddress? = nil
) throws(SocketError) -> Socket {
    var lastError = SocketError.resolution(host: host, code: EAI_NONAME)
    for info in try getAddrInfo(host: host, port: port, type: .stream) {
        do {
            let socket = try Socket(family: info.family, type: .stream, protocol: info.proto)
            try socket.setTimeout(timeout)
            if let sourceAddress { try socket.bind(sourceAddress) }
            try socket.connect(info.address)
            return socket
        } catch {
            lastError = error
        }
    }
    throw lastError
}

/// Connects a stream socket to any address, TCP or Unix.
public func createConnection(to address: SocketAddress, type: SocketType = .stream, timeout: Duration? = nil) throws(SocketError) -> Socket {
    let socket = try Socket(family: address.family, type: type)
    try socket.setTimeout(timeout)
    try socket.connect(address)
    return socket
}
