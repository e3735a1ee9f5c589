// Errors of the daemon's own making: each names what failed.
#if canImport(Glibc)
import Glibc
#endif

public enum DaemonError: Error, CustomStringConvertible {
    /// A system call failed (`what` says on what).
    case system(String, Int32)
    /// Anything else, already worded for the operator.
    case message(String)

    public var description: String {
        switch self {
        case .system(let what, let code): return "\(what): \(String(cString: strerror(code))) (errno \(code))"
        case .message(let text): return text
        }
    }
}
