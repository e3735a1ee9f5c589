// System calls that a signal may interrupt: `retryingOnInterrupt` runs one again for as long as it
// fails with EINTR and reports any other failure as a typed `Errno`; `writeAll` is built on it.
#if canImport(Glibc)
import Glibc
#endif

/// An errno value, as a Swift error. Its description is strerror's text.
public struct Errno: Error, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32

    @inlinable
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// EAGAIN (the same value as EWOULDBLOCK on Linux): a non-blocking call found nothing to do.
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    public static let noChild = Errno(rawValue: ECHILD)

    public var description: String { String(cString: strerror(rawValue)) }
}

/// Runs `call`, a system call that reports failure as -1 with errno, again for as long as it
/// fails with EINTR. Returns what it returned; any other failure throws that errno (errno itself
/// is left as the call set it).
@inlinable @inline(__always)
public func retryingOnInterrupt<Value: FixedWidthInteger & SignedInteger>(_ call: () -> Value) throws(Errno) -> Value {
    while true {
        let result = call()
        if result != -1 { return result }
        let code = Glibc.errno
        if code != EINTR { throw Errno(rawValue: code) }
    }
}

/// Writes all of `bytes` to `fd`, retrying short writes and EINTR; throws the first other
/// failure. A write that takes nothing (0) throws ENOSPC (a file that can take no more) rather
/// than trying forever.
public func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(Errno) {
    var offset = 0
    while offset < bytes.count {
        let written = try retryingOnInterrupt { Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset) }
        if written == 0 { throw Errno(rawValue: ENOSPC) }
        offset += written
    }
}

/// `writeAll` for an array of bytes.
public func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(Errno) {
    let failure = bytes.withUnsafeBytes { raw -> Errno? in
        do throws(Errno) { try writeAll(fd, raw) } catch { return error }
        return nil
    }
    if let failure { throw failure }
}
