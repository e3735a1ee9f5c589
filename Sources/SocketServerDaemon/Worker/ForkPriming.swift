// concurrency = fork: run the request path once in the worker, so that request children inherit it.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

extension TCPServer {
    /// A forked request child inherits what its worker has already done and redoes everything else,
    /// every time: lazily bound libc symbols, and Swift type metadata that the runtime builds on first
    /// use (the first `[UInt8]` metadata lookup by name builds the runtime's table of prespecialized
    /// Array metadata, most of a child's allocations). Going once through the socket calls a request
    /// makes, on a socket pair, and constructing (never running) the handler does that work here,
    /// once, as the worker starts and before its first fork. Nothing reaches a client and no handler
    /// code runs beyond `init(request:server:)`, which only stores its arguments.
    func primeForkedRequests() {
        guard let (mine, peer) = try? Socket.pair() else { return }
        defer {
            mine.close()
            peer.close()
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        try? mine.setTimeout(.milliseconds(1))
        try? peer.sendAll(bytes)
        _ = try? bytes.withUnsafeMutableBytes { try mine.recv(into: $0) }
        _ = try? bytes.withUnsafeMutableBytes { try mine.recv(into: $0) }  // nothing left: poll, time out
        try? bytes.withUnsafeBytes { try mine.sendAll($0) }
        _ = try? peer.recv(16)
        _ = requestHandlerType.init(request: Request(socket: mine, clientAddress: .unix(path: "")), server: self)
        try? mine.shutdown(.write)
    }
}
