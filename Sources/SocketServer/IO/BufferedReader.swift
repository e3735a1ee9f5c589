// A buffered byte reader (Python's rfile): read(n), readLine(limit:), iteration over lines.

/// Reads bytes from a source through a buffer. Over a socket it is a stream handler's `rfile`;
/// over a datagram it reads the packet.
public final class BufferedReader: Sequence {
    /// The longest line `readLine()` returns by default (CPython's StreamRequestHandler uses 65536).
    public static let defaultLineLimit = 65536

    private let fill: (UnsafeMutableRawBufferPointer) throws -> Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var atEnd = false
    private let chunkSize: Int

    /// A reader over any source; `fill` writes up to the buffer's size and returns the count, 0 at end.
    public init(chunkSize: Int = 8192, fill: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
        self.chunkSize = chunkSize
        self.fill = fill
    }

    /// A reader over a connected socket.
    public convenience init(socket: Socket, chunkSize: Int = 8192) {
        self.init(chunkSize: chunkSize) { try socket.recv(into: $0) }
    }

    /// A reader over bytes already in memory (a datagram's packet).
    public convenience init(bytes: [UInt8]) {
        var remaining = bytes[...]
        self.init(chunkSize: Swift.max(bytes.count, 1)) { destination in
            let count = Swift.min(destination.count, remaining.count)
            destination.copyBytes(from: remaining.prefix(count))
            remaining = remaining.dropFirst(count)
            return count
        }
    }

    private var buffered: Int { buffer.count - start }

    /// Reads one more chunk into the buffer; false at end of input.
    private func fillMore() throws -> Bool {
        if atEnd { return false }
        if start > 0, start >= buffer.count / 2 {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        let old = buffer.count
        buffer.append(contentsOf: repeatElement(0, count: chunkSize))
        var count = 0
        do {
            count = try buffer.withUnsafeMutableBytes { try fill(UnsafeMutableRawBufferPointer(rebasing: $0[old...])) }
        } catch {
            buffer.removeSubrange(old...)
            throw error
        }
        buffer.removeSubrange((old + count)...)
        if count == 0 { atEnd = true }
        return count > 0
    }

    private func take(_ count: Int) -> [UInt8] {
        let result = Array(buffer[start..<(start + count)])
        start += count
        return result
    }

    /// Reads exactly `count` bytes, or fewer only at end of input (Python's `rfile.read(n)`).
    /// A negative count reads to end of input, as Python's `read(-1)` does.
    public func read(_ count: Int) throws -> [UInt8] {
        if count < 0 { return try readAll() }
        while buffered < count, try fillMore() {}
        return take(Swift.min(count, buffered))
    }

    /// Reads everything until end of input (Python's `rfile.read()`).
    public func readAll() throws -> [UInt8] {
        while try fillMore() {}
        return take(buffered)
    }

    /// Returns what is buffered, or what one read brings when nothing is (Python's `read1`). A
    /// negative maximum means the chunk size, as Python's `read1(-1)` means the buffer size.
    public func readSome(_ maximum: Int = 8192) throws -> [UInt8] {
        let maximum = maximum < 0 ? chunkSize : maximum
        if buffered == 0 { _ = try fillMore() }
        return take(Swift.min(maximum, buffered))
    }

    /// Reads one line including its `\n`. At most `limit` bytes are returned: a longer line comes
    /// back in pieces, as with Python's `readline(limit)`; a negative limit means none, as with
    /// `readline(-1)`. Empty means end of input.
    public func readLine(limit: Int = BufferedReader.defaultLineLimit) throws -> [UInt8] {
        let limit = limit < 0 ? Int.max : limit
        var scanned = 0
        while true {
            let window = buffer[(start + scanned)..<buffer.count]
            if let newline = window.firstIndex(of: UInt8(ascii: "\n")) {
                return take(Swift.min(newline - start + 1, limit))
            }
            scanned = buffered
            if buffered >= limit { return take(limit) }
            if try !fillMore() { return take(buffered) }
        }
    }

    /// The error that ended a `for line in rfile` loop (a timeout, a reset), or nil. A Swift
    /// sequence cannot throw, so the loop just ends; `StreamRequestHandler` rethrows this error
    /// when `handle()` returns, so the server's `handleError` sees it, as a Python handler's
    /// `for line in self.rfile` would raise it.
    public private(set) var iterationError: (any Error)?

    /// Iterates over lines until end of input; a read error ends the iteration and is kept in
    /// `iterationError`.
    public func makeIterator() -> AnyIterator<[UInt8]> {
        AnyIterator { [self] in
            do {
                let line = try self.readLine()
                return line.isEmpty ? nil : line
            } catch {
                self.iterationError = error
                return nil
            }
        }
    }
}
