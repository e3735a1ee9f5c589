// What a load run is (`socketserverd-bench --load …`): where it goes and how it is driven, parsed
// from and printed back to the load process's arguments.
#if canImport(Glibc)
import Glibc
#endif

/// Where the load goes: TCP on 127.0.0.1, or a Unix stream socket.
enum Endpoint: CustomStringConvertible {
    case tcp(port: UInt16)
    case unix(path: String)

    init?(parsing text: String) {
        if text.hasPrefix("tcp:"), let port = UInt16(text.dropFirst(4)) {
            self = .tcp(port: port)
        } else if text.hasPrefix("unix:") {
            self = .unix(path: String(text.dropFirst(5)))
        } else {
            return nil
        }
    }

    var description: String {
        switch self {
        case .tcp(let port): return "tcp:\(port)"
        case .unix(let path): return "unix:\(path)"
        }
    }

    var isUnix: Bool { if case .unix = self { return true } else { return false } }

    var family: Int32 { isUnix ? AF_UNIX : AF_INET }

    /// The kernel address and its length.
    func sockaddr() -> (sockaddr_storage, socklen_t) {
        var storage = sockaddr_storage()
        switch self {
        case .tcp(let port):
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            sin.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sin, as: sockaddr_in.self) }
            return (storage, socklen_t(MemoryLayout<sockaddr_in>.size))
        case .unix(let path):
            var sun = sockaddr_un()
            sun.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8.prefix(MemoryLayout.size(ofValue: sun.sun_path) - 1))
            withUnsafeMutableBytes(of: &sun.sun_path) { $0.copyBytes(from: bytes) }
            withUnsafeMutableBytes(of: &storage) { $0.storeBytes(of: sun, as: sockaddr_un.self) }
            return (storage, socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1))
        }
    }
}

/// What to run.
struct LoadSpec {
    var endpoint: Endpoint = .tcp(port: 0)
    /// Persistent connections (request rate) rather than a connection per request (accept rate).
    var keepAlive = false
    var clients = 1
    var size = 16
    var warmup = 0.2
    /// Seconds measured after the warm-up; 0 runs until SIGTERM or SIGINT.
    var duration = 1.0
    var threads = 0
    /// A request (or connect) unanswered for this long is an error, and the client starts over.
    var timeout = 1.0
    /// Stop after this many completed requests in all (0: no limit).
    var requests = 0
    /// With keepAlive: reconnect after this many requests on a connection (0: never).
    var perConnection = 0
    /// Total requests per second, spread over the clients (0: as fast as they go).
    var rate = 0.0

    static func parse(_ arguments: [String]) -> LoadSpec? {
        var spec = LoadSpec()
        var rest = arguments[...]
        while let key = rest.popFirst() {
            guard let value = rest.popFirst() else { return nil }
            switch key {
            case "--target": guard let endpoint = Endpoint(parsing: value) else { return nil }; spec.endpoint = endpoint
            case "--mode": spec.keepAlive = value == "keep"
            case "--clients": spec.clients = max(1, Int(value) ?? 1)
            case "--size": spec.size = max(1, Int(value) ?? 16)
            case "--warmup": spec.warmup = Double(value) ?? 0.2
            case "--duration": spec.duration = Double(value) ?? 1
            case "--threads": spec.threads = Int(value) ?? 0
            case "--timeout": spec.timeout = Double(value) ?? 1
            case "--requests": spec.requests = Int(value) ?? 0
            case "--per-connection": spec.perConnection = Int(value) ?? 0
            case "--rate": spec.rate = Double(value) ?? 0
            default: return nil
            }
        }
        return spec
    }

    var arguments: [String] {
        ["--target", endpoint.description, "--mode", keepAlive ? "keep" : "conn", "--clients", "\(clients)",
         "--size", "\(size)", "--warmup", "\(warmup)", "--duration", "\(duration)", "--threads", "\(threads)",
         "--timeout", "\(timeout)", "--requests", "\(requests)", "--per-connection", "\(perConnection)",
         "--rate", "\(rate)"]
    }
}
