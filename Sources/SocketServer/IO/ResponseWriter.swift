// The handler's wfile: everything written reaches the peer.

/// Writes bytes for the client. Over a stream it sends at once, in full (Python's unbuffered `wfile`);
/// for a datagram it collects the reply that `DatagramRequestHandler` sends when the handler finishes.
public final class ResponseWriter {
    private let socket: Socket?
    /// The bytes collected so far (datagram replies).
    public private(set) var collected: [UInt8] = []

    /// A writer that sends on `socket`.
    public init(socket: Socket) { self.socket = socket }

    /// A writer that collects bytes in memory.
    public init() { self.socket = nil }

    /// Writes all of `bytes`.
    public func write(_ bytes: [UInt8]) throws {
        if let socket { try socket.sendAll(bytes) } else { collected.append(contentsOf: bytes) }
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: ArraySlice<UInt8>) throws {
        if let socket { try socket.sendAll(bytes) } else { collected.append(contentsOf: bytes) }
    }

    /// Writes UTF-8 text.
    public func write(_ text: String) throws { try write(Array(text.utf8)) }

    /// Nothing is held back over a stream; kept for Python parity.
    public func flush() throws {}
}
