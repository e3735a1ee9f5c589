// rfile and wfile for plugin handlers: a buffered reader and a writer over the connection's fd
// (or over a datagram), with the same names as the SocketServer library's.
#if canImport(Glibc)
import Glibc
#endif

/// Why a plugin's read or write failed.
public struct PluginIOError: Error, CustomStringConvertible {
    public let call: String
    public let code: Int32
    public var description: String {
        code == EAGAIN || code == EWOULDBLOCK ? "\(call): timed out (the service's timeout)" : "\(call): \(String(cString: strerror(code)))"
    }
}

/// Reads through a buffer: `read(n)`, `readAll()`, `readSome()`, `readLine(limit:)`, or iterate lines.
public final class PluginReader: Sequence {
    public static let defaultLineLimit = 65536
    private let fill: (UnsafeMutableRawBufferPointer) throws -> Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false

    /// A reader over a connected socket.
    public init(fd: Int32) {
        fill = { destination in
            while true {
                let count = recv(fd, destination.baseAddress, destination.count, 0)
                if count >= 0 { return count }
                if errno != EINTR { throw PluginIOError(call: "recv", code: errno) }
            }
        }
    }

    /// A reader over bytes in memory (a datagram).
    public init(bytes: [UInt8]) {
        buffer = bytes
        atEnd = true
        fill = { _ in 0 }
    }

    private var buffered: Int { buffer.count - start }

    private func fillMore() throws -> Bool {
        if atEnd { return false }
        if start > 0 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: 8192))
        var count = 0
        defer { buffer.removeSubrange((old + count)...) }
        count = try buffer.withUnsafeMutableBytes { try fill(UnsafeMutableRawBufferPointer(rebasing: $0[old...])) }
        if count == 0 { atEnd = true }
        return count > 0
    }

    private func take(_ count: Int) -> [UInt8] {
        defer { start += count }
        return Array(buffer[start..<(start + count)])
    }

    /// Exactly `count` bytes, or fewer only at end of input.
    public func read(_ count: Int) throws -> [UInt8] {
        while buffered < count, try fillMore() {}
        return take(Swift.min(count, buffered))
    }

    /// Everything until end of input.
    public func readAll() throws -> [UInt8] {
        while try fillMore() {}
        return take(buffered)
    }

    /// What is buffered, or what one read brings when nothing is; empty at end of input.
    public func readSome(_ maximum: Int = 8192) throws -> [UInt8] {
        if buffered == 0 { _ = try fillMore() }
        return take(Swift.min(maximum, buffered))
    }

    /// One line including its `\n` (a longer line comes in pieces of `limit`); empty at end of input.
    public func readLine(limit: Int = PluginReader.defaultLineLimit) throws -> [UInt8] {
        var scanned = 0
        while true {
            if let newline = buffer[(start + scanned)...].firstIndex(of: UInt8(ascii: "\n")) {
                return take(Swift.min(newline - start + 1, limit))
            }
            scanned = buffered
            if buffered >= limit { return take(limit) }
            if try !fillMore() { return take(buffered) }
        }
    }

    /// Lines until end of input; a read error ends the iteration.
    public func makeIterator() -> AnyIterator<[UInt8]> {
        AnyIterator { [self] in
            guard let line = try? self.readLine(), !line.isEmpty else { return nil }
            return line
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
            let sent = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR { continue }
                throw PluginIOError(call: "send", code: errno)
            }
            offset += sent
        }
    }

    /// Writes UTF-8 text.
    public func write(_ text: String) throws { try write(Array(text.utf8)) }
}
