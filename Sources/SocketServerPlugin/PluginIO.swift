// rfile and wfile for plugin handlers: a buffered reader and a writer over the connection's fd
// (or over a datagram), with the same names as the SocketServer library's.
#if canImport(Glibc)
import Glibc
#endif
@_exported import class SocketServer.BufferedReader
import func SocketServer.retryingOnInterrupt
import struct SocketServer.Errno

/// Why a plugin's read or write failed.
public struct PluginIOError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32
    public var description: String {
        code == EAGAIN || code == EWOULDBLOCK ? "\(call): timed out (the service's timeout)" : "\(call): \(String(cString: strerror(code)))"
    }
}

/// A plugin's `rfile` is the library's `BufferedReader` (`read(n)`, `readAll()`, `readSome()`,
/// `readLine(limit:)`, `for line in rfile`), over the connection's fd or over a datagram.
public typealias PluginReader = BufferedReader

extension BufferedReader {
    /// A reader over a plugin connection's descriptor, which the daemon owns (it stays open after).
    public convenience init(pluginFD fd: Int32) {
        self.init { destination in
            do throws(Errno) {
                return try retryingOnInterrupt { recv(fd, destination.baseAddress, destination.count, 0) }
            } catch {
                throw PluginIOError(call: "recv", code: error.rawValue)
            }
        }
    }
}

/// Writes to the client: over a stream at once and in full; for a datagram it collects the reply.
public final class PluginWriter {
    private let fd: Int32?
    /// What a datagram handler wrote so far (sent as one datagram when it finishes).
    public private(set) var collected: [UInt8] = []

    init(fd: Int32?) { self.fd = fd }

    public func write(_ bytes: [UInt8]) throws {
        guard let fd else {
            collected += bytes
            return
        }
        var offset = 0
        while offset < bytes.count {
            let sent: Int
            do {
                sent = try retryingOnInterrupt {
                    bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
                }
            } catch {
                throw PluginIOError(call: "send", code: error.rawValue)
            }
            offset += sent
        }
    }

    /// Writes UTF-8 text.
    public func write(_ text: String) throws { try write(Array(text.utf8)) }
}
