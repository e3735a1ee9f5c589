// The library's one error type for socket work: every case names what failed and why.
#if canImport(Glibc)
import Glibc
#endif

/// An error from the socket layer. System failures carry the syscall's name and errno,
/// so `"connect: Connection refused (errno 111)"` tells the user exactly what happened.
public enum SocketError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed with `errno`.
    case system(call: String, errno: Int32)
    /// A blocking operation did not complete within the socket's timeout (Python's `socket.timeout`).
    case timeout(call: String)
    /// Name resolution failed (`getaddrinfo`'s EAI_* code).
    case resolution(host: String, code: Int32)
    /// A textual address could not be parsed or does not fit the socket.
    case invalidAddress(String)
    /// A Unix socket path longer than the kernel's `sun_path` allows (no silent truncation).
    case pathTooLong(path: String, maximum: Int)
    /// The operation was attempted on a socket that was already closed.
    case closed(call: String)

    /// The errno of a `.system` error, `ETIMEDOUT` for a timeout, else nil.
    public var errno: Int32? {
        switch self {
        case .system(_, let code): return code
        case .timeout: return ETIMEDOUT
        case .closed: return EBADF
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .system(let call, let code):
            return "\(call): \(String(cString: strerror(code))) (errno \(code))"
        case .timeout(let call):
            return "\(call): timed out"
        case .resolution(let host, let code):
            return "getaddrinfo \(host): \(String(cString: gai_strerror(code)))"
        case .invalidAddress(let text):
            return "invalid address: \(text)"
        case .pathTooLong(let path, let maximum):
            return "unix socket path is \(path.utf8.count) bytes, longer than the kernel's limit of \(maximum): \(path)"
        case .closed(let call):
            return "\(call): socket is closed"
        }
    }

    /// The error for the current `errno`.
    static func last(_ call: String) -> SocketError { .system(call: call, errno: Glibc.errno) }
}

/// `retryingOnInterrupt` with any other failure thrown as `SocketError.system` for `call`.
@inline(__always)
func retryingOnInterrupt<T: FixedWidthInteger & SignedInteger>(_ call: String, _ body: () -> T) throws(SocketError) -> T {
    do {
        return try retryingOnInterrupt(body)
    } catch {
        throw .system(call: call, errno: error.rawValue)
    }
}
