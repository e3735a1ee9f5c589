// concurrency = fork: run the request path once in the worker, so that request children inherit it.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer

/// Set once the worker has primed its request path (the loop thread only reads and writes it).
nonisolated(unsafe) private var forkPathPrimed = false

extension StreamService {
    /// A forked request child inherits what its worker has already done and redoes everything else,
    /// every time: lazily bound libc symbols, and Swift type metadata that the runtime builds on first
    /// use (the first `[UInt8]` metadata lookup by name alone built the runtime's table of
    /// prespecialized Array metadata: 22 of the 34 allocations in each child). Going once through the
    /// socket calls a request makes, on a socket pair, and constructing (never running) the handler
    /// does that work here, before the first fork. Nothing reaches a client and no handler code runs
    /// beyond `init(request:server:)`, which only stores its arguments.
    func primeForkedRequestsOnce() {
        guard !forkPathPrimed else { return }
        forkPathPrimed = true
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
