// A plugin's event callbacks (ABI 1.1) as the daemon runs them: an EventStreamHandler under
// concurrency = events, and a blocking adapter under sync, threads and fork.
#if canImport(Glibc)
import Glibc
#endif
import SocketServer
import SocketServerHandlers

/// Under `concurrency = events`: each connection's `open` when the loop takes it over, `data` with
/// what arrives, `close` when the loop lets the connection go (this handler's end).
final class PluginEventBridge: EventStreamHandler {
    private let connection: Result<PluginConnection, any Error>

    init(clientAddress: SocketAddress, server: BaseServer) {
        connection = Result {
            guard let host = server.hooks as? HandlerHost, let binding = PluginBinding.binding(for: host.serviceName) else {
                throw PluginCallError(description: "no plugin handler is bound to this service in worker \(getpid())")
            }
            return try PluginConnection(binding: binding, client: clientAddress)
        }
    }

    func connected(output: inout [UInt8]) throws -> Bool {
        try connection.get().open(&output)
    }

    func received(_ bytes: UnsafeRawBufferPointer, output: inout [UInt8]) throws -> Bool {
        try connection.get().received(bytes, &output)
    }

    /// The loop is done with the connection: the plugin's `close`, at once (not when a lingering
    /// close ends).
    func closed() {
        if case .success(let connection) = connection { connection.close() }
    }
}

/// Under sync, threads and fork, for a handler with event callbacks but no blocking `stream`:
/// reads with the service's timeout, passes each chunk to `data`, sends the reply in full before
/// reading on (the backpressure the event loop applies), and calls `close` at the end.
final class PluginEventAdapter: BaseRequestHandler {
    static let chunkSize = 16 * 1024

    override func handle() throws {
        let connection = try PluginConnection(binding: try pluginBinding(), client: clientAddress)
        defer { connection.close() }
        if request.family != .unix { try? request.setOption(.tcpNoDelay, true) }
        var output: [UInt8] = []
        var goOn = try connection.open(&output)
        try flush(&output)
        // Uninitialised: only what recv wrote is passed on.
        var buffer = [UInt8](unsafeUninitializedCapacity: Self.chunkSize) { _, count in count = Self.chunkSize }
        try buffer.withUnsafeMutableBytes { raw in
            while goOn {
                let count = try request.recv(into: raw)
                if count == 0 { return }
                goOn = try connection.received(UnsafeRawBufferPointer(rebasing: raw[..<count]), &output)
                try flush(&output)
            }
        }
    }

    private func flush(_ output: inout [UInt8]) throws {
        guard !output.isEmpty else { return }
        try request.sendAll(output)
        output.removeAll(keepingCapacity: output.capacity <= 64 * 1024)
    }
}
